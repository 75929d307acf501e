"""Elasticsearch and Kibana assets, generated from the log-field catalogue.

* :func:`index_template` — a composable index template for the ``logs-fleetobs-*`` data
  streams: one mapping per catalogued field (nested ``properties``, since the pipeline writes
  nested ECS objects), ``dynamic: false`` so a stray key can never create a mapping, and the
  ILM policy attached.
* :func:`ilm_policy` — rollover in the hot phase (1 day or 25 GB per primary shard), delete
  ``retention_days`` after rollover (a compliance knob: a backing index is deleted that long after
  it stopped taking writes, so its oldest lines live up to a day longer).
* :func:`kibana_objects` — saved objects as NDJSON lines: a data view, three saved searches
  (errors by service, slow requests, trace id lookup), three visualisations and a dashboard
  (log volume by level, by service, top error types). Every field they mention is a
  catalogued field, checked by :func:`referenced_fields` in the tests.

Nothing here talks to a server; :mod:`instrumentation.logging.cli` does.
"""

from __future__ import annotations

import json
from typing import Any

from instrumentation.catalog.log_fields import ECS_VERSION, LOG_FIELDS

__all__ = [
    "DATA_VIEW_ID",
    "DEFAULT_RETENTION_DAYS",
    "ILM_POLICY_NAME",
    "INDEX_PATTERN",
    "TEMPLATE_NAME",
    "fields_table",
    "ilm_policy",
    "index_template",
    "kibana_ndjson",
    "kibana_objects",
    "mapping_properties",
    "referenced_fields",
]

TEMPLATE_NAME = "logs-fleetobs"
ILM_POLICY_NAME = "logs-fleetobs"
INDEX_PATTERN = "logs-fleetobs-*"
DATA_VIEW_ID = "fleetobs-logs"
DEFAULT_RETENTION_DAYS = 30
SLOW_REQUEST_NS = 1_000_000_000
_KEYWORD_IGNORE_ABOVE = 1024


def _mapping(es_type: str) -> dict[str, Any]:
    if es_type == "keyword":
        return {"type": "keyword", "ignore_above": _KEYWORD_IGNORE_ABOVE}
    if es_type == "date":
        return {"type": "date", "format": "strict_date_optional_time||epoch_millis"}
    return {"type": es_type}


def mapping_properties() -> dict[str, Any]:
    """The ``properties`` of the template: catalogue fields nested by their dotted names."""
    properties: dict[str, Any] = {}
    for field in LOG_FIELDS:
        parts = [field.name] if field.name.startswith("@") else field.name.split(".")
        node = properties
        for part in parts[:-1]:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[parts[-1]] = _mapping(field.type)
    return properties


def index_template(retention_days: int = DEFAULT_RETENTION_DAYS) -> dict[str, Any]:
    """Body for ``PUT _index_template/logs-fleetobs``."""
    return {
        "index_patterns": [INDEX_PATTERN],
        "data_stream": {},
        # Above Elasticsearch's built-in ``logs`` template (priority 100), which matches logs-*-*.
        "priority": 200,
        "template": {
            "settings": {
                "index.lifecycle.name": ILM_POLICY_NAME,
                "index.mapping.total_fields.limit": 2000,
                "index.mapping.ignore_malformed": True,
            },
            "mappings": {
                "dynamic": False,
                "date_detection": False,
                "properties": mapping_properties(),
            },
        },
        "_meta": {
            "description": "Fleet Observability ECS log lines",
            "ecs_version": ECS_VERSION,
            "retention_days": retention_days,
            "managed_by": "fleetobs",
        },
    }


def ilm_policy(retention_days: int = DEFAULT_RETENTION_DAYS) -> dict[str, Any]:
    """Body for ``PUT _ilm/policy/logs-fleetobs``: rollover, then delete after retention."""
    if retention_days < 1:
        raise ValueError(f"retention_days must be at least 1, got {retention_days!r}")
    return {
        "policy": {
            "phases": {
                "hot": {
                    "min_age": "0ms",
                    "actions": {"rollover": {"max_age": "1d", "max_primary_shard_size": "25gb"}},
                },
                "delete": {"min_age": f"{retention_days}d", "actions": {"delete": {}}},
            },
            "_meta": {"managed_by": "fleetobs", "retention_days": retention_days},
        }
    }


# --- Kibana ------------------------------------------------------------------------------------
def _search_source(query: str) -> str:
    return json.dumps(
        {
            "query": {"query": query, "language": "kuery"},
            "filter": [],
            "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
        },
        sort_keys=True,
    )


_INDEX_REFERENCE = [
    {"name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern", "id": DATA_VIEW_ID}
]


def _saved_search(
    object_id: str, title: str, description: str, query: str, columns: list[str]
) -> dict[str, Any]:
    return {
        "type": "search",
        "id": object_id,
        "attributes": {
            "title": title,
            "description": description,
            "columns": columns,
            "sort": [["@timestamp", "desc"]],
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source(query)},
        },
        "references": _INDEX_REFERENCE,
    }


def _visualization(
    object_id: str, title: str, vis_type: str, aggs: list[dict[str, Any]], params: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": "visualization",
        "id": object_id,
        "attributes": {
            "title": title,
            "description": "",
            "uiStateJSON": "{}",
            "version": 1,
            "visState": json.dumps(
                {"title": title, "type": vis_type, "aggs": aggs, "params": params}, sort_keys=True
            ),
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source("")},
        },
        "references": _INDEX_REFERENCE,
    }


def _histogram_by(object_id: str, title: str, field: str) -> dict[str, Any]:
    aggs = [
        {"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}},
        {
            "id": "2",
            "enabled": True,
            "type": "date_histogram",
            "schema": "segment",
            "params": {"field": "@timestamp", "interval": "auto", "min_doc_count": 1, "extended_bounds": {}},
        },
        {
            "id": "3",
            "enabled": True,
            "type": "terms",
            "schema": "group",
            "params": {"field": field, "size": 10, "order": "desc", "orderBy": "1"},
        },
    ]
    # The whole shape Kibana saves for a bar chart: it fills in missing top-level params only, and
    # its chart code reads the axes' scale, labels and title without checking they exist.
    params = {
        "type": "histogram",
        "addLegend": True,
        "addTooltip": True,
        "addTimeMarker": False,
        "legendPosition": "right",
        "times": [],
        "grid": {"categoryLines": False},
        "labels": {"show": False},
        "thresholdLine": {"show": False, "value": 10, "width": 1, "style": "full", "color": "#E7664C"},
        "seriesParams": [
            {
                "show": True,
                "type": "histogram",
                "mode": "stacked",
                "data": {"label": "Count", "id": "1"},
                "valueAxis": "ValueAxis-1",
                "drawLinesBetweenPoints": True,
                "lineWidth": 2,
                "showCircles": True,
            }
        ],
        "categoryAxes": [
            {
                "id": "CategoryAxis-1",
                "type": "category",
                "position": "bottom",
                "show": True,
                "style": {},
                "scale": {"type": "linear"},
                "labels": {"show": True, "filter": True, "truncate": 100},
                "title": {},
            }
        ],
        "valueAxes": [
            {
                "id": "ValueAxis-1",
                "name": "LeftAxis-1",
                "type": "value",
                "position": "left",
                "show": True,
                "style": {},
                "scale": {"type": "linear", "mode": "normal"},
                "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                "title": {"text": "Count"},
            }
        ],
    }
    return _visualization(object_id, title, "histogram", aggs, params)


def _top_error_types() -> dict[str, Any]:
    aggs = [
        {"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}},
        {
            "id": "2",
            "enabled": True,
            "type": "terms",
            "schema": "bucket",
            "params": {"field": "error.type", "size": 20, "order": "desc", "orderBy": "1"},
        },
        {
            "id": "3",
            "enabled": True,
            "type": "terms",
            "schema": "bucket",
            "params": {"field": "service.name", "size": 10, "order": "desc", "orderBy": "1"},
        },
    ]
    return _visualization(
        "fleetobs-logs-top-error-types", "Top error types", "table", aggs, {"perPage": 20, "showTotal": True}
    )


def kibana_objects() -> list[dict[str, Any]]:
    """Every saved object, data view first (objects reference it)."""
    data_view = {
        "type": "index-pattern",
        "id": DATA_VIEW_ID,
        "attributes": {"title": INDEX_PATTERN, "name": "Fleet logs", "timeFieldName": "@timestamp"},
        "references": [],
    }
    searches = [
        _saved_search(
            "fleetobs-logs-errors-by-service",
            "Errors by service",
            "Error and critical lines of every service, newest first.",
            'log.level : ("error" or "critical")',
            ["service.name", "log.logger", "error.type", "message", "http.route", "trace.id"],
        ),
        _saved_search(
            "fleetobs-logs-slow-requests",
            "Slow requests",
            "Access-log lines of requests that took a second or more.",
            f'event.dataset : "django.access" and event.duration >= {SLOW_REQUEST_NS}',
            [
                "service.name",
                "http.request.method",
                "http.route",
                "http.response.status_code",
                "event.duration",
                "trace.id",
            ],
        ),
        _saved_search(
            "fleetobs-logs-trace-lookup",
            "Trace id lookup",
            'Every line of one trace: replace * by the trace id (32 hex digits), e.g. trace.id : "4bf9...".',
            "trace.id : *",
            ["service.name", "log.level", "log.logger", "message", "span.id", "http.request.id"],
        ),
    ]
    visualizations = [
        _histogram_by("fleetobs-logs-volume-by-level", "Log volume by level", "log.level"),
        _histogram_by("fleetobs-logs-volume-by-service", "Log volume by service", "service.name"),
        _top_error_types(),
    ]
    panels = []
    references = []
    for index, vis in enumerate(visualizations):
        ref = f"panel_{index}"
        panels.append(
            {
                "panelIndex": str(index + 1),
                "gridData": {
                    "x": (index % 2) * 24,
                    "y": (index // 2) * 15,
                    "w": 24,
                    "h": 15,
                    "i": str(index + 1),
                },
                "type": "visualization",
                "panelRefName": ref,
                "embeddableConfig": {},
                "version": "8.11.0",
            }
        )
        references.append({"name": ref, "type": "visualization", "id": vis["id"]})
    dashboard = {
        "type": "dashboard",
        "id": "fleetobs-logs-overview",
        "attributes": {
            "title": "Fleet logs overview",
            "description": "Log volume by level and service, and the most frequent error types.",
            "panelsJSON": json.dumps(panels, sort_keys=True),
            "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
            "timeRestore": False,
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": json.dumps({"query": {"query": "", "language": "kuery"}, "filter": []})
            },
        },
        "references": references,
    }
    return [data_view, *searches, *visualizations, dashboard]


def kibana_ndjson() -> str:
    """The saved objects as the NDJSON Kibana's import API and UI accept."""
    return "".join(json.dumps(obj, sort_keys=True) + "\n" for obj in kibana_objects())


def referenced_fields(obj: dict[str, Any]) -> set[str]:
    """Field names a saved object mentions: columns, sort, KQL field names, aggregation fields."""
    import re

    fields: set[str] = set()
    attributes = obj.get("attributes", {})
    fields.update(attributes.get("columns", []))
    fields.update(item[0] for item in attributes.get("sort", []))
    if "timeFieldName" in attributes:
        fields.add(attributes["timeFieldName"])
    meta = attributes.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
    if meta:
        query = json.loads(meta).get("query", {}).get("query", "")
        fields.update(re.findall(r"([@\w.]+)\s*(?::|>=|<=|>|<)", query))
    vis_state = attributes.get("visState")
    if vis_state:
        for agg in json.loads(vis_state).get("aggs", []):
            field = agg.get("params", {}).get("field")
            if field:
                fields.add(field)
    return fields


def fields_table() -> str:
    """The Markdown table of every log field, for ``docs/logging.md``."""
    rows = ["| Field | Elasticsearch type | Meaning |", "|---|---|---|"]
    rows.extend(f"| `{f.name}` | {f.type} | {f.description} |" for f in LOG_FIELDS)
    return "\n".join(rows) + "\n"
