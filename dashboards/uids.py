"""Fixed identifiers shared by the dashboards, the provisioning files and the alert rules.

Provisioned datasources get fixed uids so that dashboards, exemplar links, trace-to-logs and
log-to-trace links can name them without lookups; dashboards get fixed uids so that links
between them (and ``dashboard_url`` annotations on alerts) are stable URLs such as
``/d/fleetobs-service``.
"""

from __future__ import annotations

PROMETHEUS = "prometheus"
TEMPO = "tempo"
ELASTICSEARCH = "elasticsearch"
ALERTMANAGER = "alertmanager"

OVERVIEW = "fleetobs-overview"
SERVICE = "fleetobs-service"
RESOURCES = "fleetobs-resources"
DATABASE = "fleetobs-database"
TASKS = "fleetobs-tasks"
LOGS = "fleetobs-logs"

#: The folder the dashboards live in, as provisioned and as uploaded by default.
FOLDER_UID = "fleetobs"
FOLDER_TITLE = "Fleet Observability"
#: Tag on every dashboard; dashboard links list dashboards by it.
TAG = "fleetobs"


def dashboard_path(uid: str) -> str:
    """The URL path of a dashboard in Grafana (the slug after the uid is optional)."""
    return f"/d/{uid}"
