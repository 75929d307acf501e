"""Grafana dashboards and provisioning for the fleet, generated from the signal catalogue.

Layout of the package::

    queries.py      PromQL from catalogue metrics (labels checked, scoped to $job/$instance/$environment)
    logsearch.py    Elasticsearch queries from catalogue log fields
    panels.py       panel builders: units, thresholds, datasources, legends, links, grid layout
    variables.py    the template variables every dashboard shares
    saturation.py   saturation ratios (workers, CPU, memory, file descriptors)
    board.py        the dashboard frame (variables, links, time settings)
    overview.py, service.py, resources.py, database.py, tasks.py, logs.py   one dashboard each
    postprocess.py  lifts grafanalib output to the current schema, read-only
    provisioning.py Grafana datasource and dashboard-provider files
    generate.py     deterministic rendering to files
    upload.py       pushing the dashboards to a running Grafana over its HTTP API
    expand.py       template variables and intervals expanded as Grafana expands them
    snapshot/       ``fleetobs dashboards snapshot``: the dashboards drawn from live Prometheus data
    cli.py          ``fleetobs dashboards generate|upload|snapshot``

Only :mod:`instrumentation.catalog` is imported from the instrumentation.
"""
