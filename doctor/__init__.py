"""``fleetobs doctor``: prove a live installation shows what the dashboards and alerts promise.

The checks ask the user's own backends, read-only, and return :class:`Finding` objects::

    run.py          Options -> Report: every check in order, unreachable backends kept apart
    targets.py      jobs exposing fleetobs_build_info, instances up/down, slow scrapes, versions
    labels.py       job = service name, environment on all targets or none, catalogue labels kept
    panels.py       every dashboard query, expanded as Grafana does, run and explained when empty
    explain.py      why a query returns nothing (never emitted, label missing, no traffic, broken)
    expand.py       Grafana's template-variable expansion (All, multi-value, $__rate_interval)
    promql.py       the selectors of an expression
    rules.py        generated rules loaded, healthy, producing series; an Alertmanager; routing
    routing.py      Alertmanager's routing tree walked like amtool's ``config routes test``
    cardinality.py  series per job and metric against the catalogue's budget; exploding labels
    logs.py         Elasticsearch template, ILM policy, data stream, field mappings, recent lines
    grafana.py      dashboards present and current, datasource uids present
    snippets.py     the scrape-config snippets findings carry
    findings.py     Finding, Severity, Report, exit codes
    prometheus.py, http.py   the read-only API clients
    cli.py          ``fleetobs doctor``

Only :mod:`instrumentation.catalog` is used from the instrumentation, with the ``dashboards`` and
``alerting`` generators for what the installation should hold.
"""

from doctor.findings import EXIT_CANNOT_CHECK, EXIT_FINDINGS, EXIT_HEALTHY, Finding, Report, Severity
from doctor.run import Options, run

__all__ = [
    "EXIT_CANNOT_CHECK",
    "EXIT_FINDINGS",
    "EXIT_HEALTHY",
    "Finding",
    "Options",
    "Report",
    "Severity",
    "run",
]
