"""What every rule generator is handed: the spec, the time scale, and link builders.

Dashboards are linked by uid (the dashboards package gives them fixed uids), with the alert's
``job`` and, where it has one, ``instance`` passed as Grafana template variables, so the link opens
the right service. The base URLs come from the spec's ``links`` section or the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alerting.promql import Durations
from alerting.slo import Spec

#: Dashboard uids published by the dashboards package (``dashboards/uids.py``); a test keeps them equal.
DASHBOARDS = {
    "fleet": "fleetobs-overview",
    "service": "fleetobs-service",
    "resources": "fleetobs-resources",
    "database": "fleetobs-database",
    "tasks": "fleetobs-tasks",
    "logs": "fleetobs-logs",
}


@dataclass(frozen=True)
class Context:
    spec: Spec = field(default_factory=Spec)
    durations: Durations = field(default_factory=Durations)

    def runbook(self, alert: str) -> str:
        return f"{self.spec.links.runbooks.rstrip('/')}/{alert}.md"

    def dashboard(self, which: str, *variables: str, **renamed: str) -> str:
        """Grafana URL of dashboard ``which`` with the alert's labels as template variables.

        ``var-<label>={{ $labels.<label> }}`` for each of ``variables`` (job, instance: plain
        names), and ``var-<name>`` from the label ``renamed[name]``, URL-encoded (``route`` from
        ``http_route``, whose URL patterns hold ``/``, ``<``, ``>`` and ``:``).
        """
        uid = DASHBOARDS[which]
        parts = [f"var-{v}={{{{ $labels.{v} }}}}" for v in variables]
        parts += [f"var-{name}={{{{ $labels.{label} | urlquery }}}}" for name, label in renamed.items()]
        query = "&".join(parts)
        url = f"{self.spec.links.grafana.rstrip('/')}/d/{uid}"
        return f"{url}?{query}" if query else url
