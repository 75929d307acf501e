"""Lift grafanalib's output to a current Grafana dashboard schema.

grafanalib 0.7.1 emits ``schemaVersion`` 12 with keys Grafana dropped long ago (``rows``,
``sharedCrosshair``, panel ``span``/``height``/``error``, table ``columns``/``fontSize``...),
``null`` for every unset option, a 100-point ``maxDataPoints`` cap on every panel and
``editable: true``. :func:`finalize` turns a :class:`grafanalib.core.Dashboard` into the JSON a
Grafana 10/11 would save itself (``schemaVersion`` 39): legacy keys removed, nulls dropped
(except the base threshold step, whose ``null`` means "from minus infinity"), panel ids
numbered in reading order, the dashboard read-only (``editable: false``; provisioned
dashboards are changed in code), rows without datasources, and variables in the current
shape. The result is plain data, so the same function feeds the files and the HTTP upload.
"""

from __future__ import annotations

import json
from typing import Any

from grafanalib import core as gl
from grafanalib._gen import DashboardEncoder

SCHEMA_VERSION = 39

_DASHBOARD_LEGACY = ("rows", "sharedCrosshair", "style", "hideControls", "gnetId", "__inputs")
_PANEL_LEGACY = (
    "span",
    "height",
    "minSpan",
    "error",
    "editable",
    "cacheTimeout",
    "hideTimeOverride",
    "maxDataPoints",
    "repeat",
    "repeatDirection",
    "maxPerRow",
    "timeFrom",
    "timeShift",
    "interval",
    "columns",
    "fontSize",
    "color",
    "mappings",
)
_VARIABLE_LEGACY = ("useTags", "tagsQuery", "tagValuesQuery", "auto", "auto_min", "auto_count")


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        is_step = "color" in value and "value" in value
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None or (is_step and k == "value")}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _panel(panel: dict[str, Any], next_id: int) -> dict[str, Any]:
    for key in _PANEL_LEGACY:
        panel.pop(key, None)
    panel["id"] = next_id
    if panel.get("transparent") is False:
        panel.pop("transparent")
    if panel.get("type") == "row":
        for key in ("datasource", "targets", "fieldConfig", "links", "transformations", "description"):
            panel.pop(key, None)
        panel["panels"] = []
        return panel
    if not panel.get("links"):
        panel.pop("links", None)
    if not panel.get("transformations"):
        panel.pop("transformations", None)
    if panel.get("type") == "table":
        # Grafana 10 replaced custom.displayMode with custom.cellOptions.
        custom = panel["fieldConfig"]["defaults"]["custom"]
        custom["cellOptions"] = {"type": custom.pop("displayMode", "auto")}
        custom.pop("align", None)
        panel["options"]["cellHeight"] = "sm"
    return panel


def _variable(variable: dict[str, Any]) -> dict[str, Any]:
    for key in _VARIABLE_LEGACY:
        variable.pop(key, None)
    if variable.get("type") == "query":
        variable["definition"] = variable["query"]
        variable["options"] = []
        variable["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
        if not variable.get("regex"):
            variable["regex"] = ""
    elif variable.get("type") == "datasource":
        variable["current"] = {"selected": True, "text": "Prometheus", "value": variable["current"]["value"]}
        variable["options"] = []
        variable["regex"] = ""
    else:
        variable["current"].pop("tags", None)
    return variable


def finalize(dashboard: gl.Dashboard) -> dict[str, Any]:
    """The dashboard as current-schema JSON data (a fresh dict on every call)."""
    data: dict[str, Any] = json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))
    for key in _DASHBOARD_LEGACY:
        data.pop(key, None)
    data["schemaVersion"] = SCHEMA_VERSION
    data["editable"] = False
    data["id"] = None
    data["version"] = 1
    data["fiscalYearStartMonth"] = 0
    data["liveNow"] = False
    data["weekStart"] = ""
    data["timepicker"] = {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m", "30m", "1h"]}
    data["panels"] = [_panel(p, i) for i, p in enumerate(data["panels"], start=1)]
    data["templating"]["list"] = [_variable(v) for v in data["templating"]["list"]]
    data["annotations"] = {
        "list": [
            {
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True,
                "hide": True,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "type": "dashboard",
            }
        ]
    }
    stripped: dict[str, Any] = _strip_nulls(data)
    stripped["id"] = None  # Grafana assigns ids; a null id is the documented way to say so
    return stripped
