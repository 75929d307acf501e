"""Alerting as code: Prometheus rules, SLO burn-rate alerts and the Alertmanager configuration.

Everything is generated from the signal catalogue (:mod:`instrumentation.catalog`, the only
thing imported from the instrumentation) and a small SLO spec::

    slo.py            the spec file, burn-rate math (factors, thresholds, budgets)
    promql.py         selectors checked against the catalogue; durations and time scaling
    recording.py      level:metric:operations recording rules
    slo_rules.py      per-SLO records and the multi-window burn-rate alerts
    alerts/           the other alert families (routes, saturation, availability, pipeline)
    model.py          Record, Alert, RuleGroup and their YAML form
    context.py        spec + time scale + dashboard and runbook links handed to generators
    alertmanager.py   routing tree, inhibitions, receivers with secrets from files
    kubernetes.py     the PrometheusRule variant
    render.py         deterministic YAML output
    tools.py          promtool / amtool runners that refuse patterns matching nothing
    api.py            write_rules(), alertmanager_config() and friends (public entry points)
    cli.py            ``fleetobs alerts generate|test``

Runtime code never imports this package.
"""
