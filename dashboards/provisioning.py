"""Grafana provisioning: the datasources (with fixed uids and correlations) and the dashboard provider.

The datasources point at the compose services by name and wire the three signals together:

* Prometheus (uid ``prometheus``) turns the ``trace_id`` exemplar label into a link to Tempo;
* Tempo (uid ``tempo``) links a span to its logs in Elasticsearch by trace id
  (``tracesToLogsV2``), to the service's request rate and latency in Prometheus
  (``tracesToMetrics``), and draws the service map and node graph;
* Elasticsearch (uid ``elasticsearch``) reads ``logs-fleetobs-*`` with the ECS time, message and
  level fields, and turns ``trace.id`` into a link to Tempo.

Grafana expands ``$NAME`` and ``${NAME}`` from the environment in provisioning files, so every
literal ``$`` of a Grafana template (``${__value.raw}``, ``${__trace.traceId}``) is written
``$$``. The trace-to-metrics queries are built from catalogue metrics like the dashboards.
"""

from __future__ import annotations

from typing import Any

import yaml

from dashboards import queries as q
from dashboards import uids
from instrumentation.catalog import log_field, metric

PROMETHEUS_URL = "http://prometheus:9090"
TEMPO_URL = "http://tempo:3200"
ELASTICSEARCH_URL = "http://elasticsearch:9200"
ALERTMANAGER_URL = "http://alertmanager:9093"
LOG_INDEX = "logs-fleetobs-*"
#: Where the compose stack mounts ``compose/grafana/dashboards``.
DASHBOARDS_PATH = "/var/lib/grafana/dashboards"
#: Prometheus scrape interval in the stack; Grafana derives ``$__rate_interval`` from it.
SCRAPE_INTERVAL = "15s"
#: Exemplar label that carries the trace id on histogram buckets.
EXEMPLAR_TRACE_LABEL = "trace_id"
DATASOURCES_FILE = "datasources/datasources.yml"
PROVIDER_FILE = "dashboards/provider.yml"

HTTP = metric("http_server_request_duration_seconds")


def escape(value: Any) -> Any:
    """Escape ``$`` as ``$$`` in every string, so Grafana does not expand it as an env var."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {k: escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape(v) for v in value]
    return value


def trace_to_metrics_queries() -> list[dict[str, str]]:
    """Queries Tempo offers from a span; ``$__tags`` becomes ``job="<service.name>"``."""
    http_count = q.selector(HTTP, "count", scoped=False, raw="$__tags")
    http_bucket = q.selector(HTTP, "bucket", scoped=False, raw="$__tags")
    return [
        {"name": "Request rate", "query": f"sum(rate({http_count}[5m]))"},
        {"name": "p95 latency", "query": f"histogram_quantile(0.95, sum by (le) (rate({http_bucket}[5m])))"},
    ]


def datasources() -> dict[str, Any]:
    """The datasource provisioning document (before ``$`` escaping)."""
    trace_id = log_field("trace.id").name
    return {
        "apiVersion": 1,
        "deleteDatasources": [],
        "datasources": [
            {
                "name": "Prometheus",
                "type": "prometheus",
                "uid": uids.PROMETHEUS,
                "access": "proxy",
                "url": PROMETHEUS_URL,
                "isDefault": True,
                "editable": False,
                "jsonData": {
                    "httpMethod": "POST",
                    "timeInterval": SCRAPE_INTERVAL,
                    "prometheusType": "Prometheus",
                    "exemplarTraceIdDestinations": [
                        {
                            "name": EXEMPLAR_TRACE_LABEL,
                            "datasourceUid": uids.TEMPO,
                            "urlDisplayLabel": "View trace",
                        }
                    ],
                },
            },
            {
                "name": "Tempo",
                "type": "tempo",
                "uid": uids.TEMPO,
                "access": "proxy",
                "url": TEMPO_URL,
                "editable": False,
                "jsonData": {
                    "tracesToLogsV2": {
                        "datasourceUid": uids.ELASTICSEARCH,
                        "spanStartTimeShift": "-5m",
                        "spanEndTimeShift": "5m",
                        "filterByTraceID": True,
                        "filterBySpanID": False,
                        "customQuery": True,
                        "query": f'{trace_id}:"${{__trace.traceId}}"',
                    },
                    "tracesToMetrics": {
                        "datasourceUid": uids.PROMETHEUS,
                        "spanStartTimeShift": "-5m",
                        "spanEndTimeShift": "5m",
                        "tags": [{"key": "service.name", "value": "job"}],
                        "queries": trace_to_metrics_queries(),
                    },
                    "serviceMap": {"datasourceUid": uids.PROMETHEUS},
                    "nodeGraph": {"enabled": True},
                    "search": {"hide": False},
                    "traceQuery": {
                        "timeShiftEnabled": True,
                        "spanStartTimeShift": "-30m",
                        "spanEndTimeShift": "30m",
                    },
                },
            },
            {
                "name": "Elasticsearch",
                "type": "elasticsearch",
                "uid": uids.ELASTICSEARCH,
                "access": "proxy",
                "url": ELASTICSEARCH_URL,
                "editable": False,
                "jsonData": {
                    "index": LOG_INDEX,
                    "timeField": log_field("@timestamp").name,
                    "logMessageField": log_field("message").name,
                    "logLevelField": log_field("log.level").name,
                    "maxConcurrentShardRequests": 5,
                    "dataLinks": [
                        {
                            "field": trace_id,
                            "datasourceUid": uids.TEMPO,
                            "url": "${__value.raw}",
                            "urlDisplayLabel": "View trace",
                        }
                    ],
                },
            },
            {
                "name": "Alertmanager",
                "type": "alertmanager",
                "uid": uids.ALERTMANAGER,
                "access": "proxy",
                "url": ALERTMANAGER_URL,
                "editable": False,
                "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
            },
        ],
    }


def provider() -> dict[str, Any]:
    """The dashboard provider: read-only dashboards from files, in their own folder."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "fleetobs",
                "orgId": 1,
                "folder": uids.FOLDER_TITLE,
                "folderUid": uids.FOLDER_UID,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": DASHBOARDS_PATH, "foldersFromFilesStructure": False},
            }
        ],
    }


def _yaml(document: dict[str, Any], header: str) -> str:
    body = yaml.safe_dump(
        escape(document), sort_keys=True, default_flow_style=False, allow_unicode=True, width=200
    )
    return f"# {header}\n# Generated by `fleetobs dashboards generate`; do not edit.\n{body}"


def files() -> dict[str, str]:
    """Relative path under the provisioning directory -> file text."""
    return {
        DATASOURCES_FILE: _yaml(
            datasources(), "Grafana datasources with fixed uids, correlated by trace id."
        ),
        PROVIDER_FILE: _yaml(provider(), "Grafana dashboard provider for the fleet dashboards."),
    }
