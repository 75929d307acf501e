"""Shared panel builders: the one place for units, thresholds, datasources, legends and layout.

Dashboard modules describe *what* to show (title, description, queries, unit); this module
decides *how*: every Prometheus panel and target points at the ``${datasource}`` variable,
time series share one legend and tooltip style, thresholds come from a few named sets, and
:func:`layout` places panels on Grafana's 24-column grid row by row, so positions never overlap
and never need to be written by hand. grafanalib builds the panels; its gaps (exemplars,
data links, table overrides) are filled through ``extraJson`` here and in
:mod:`dashboards.postprocess`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import attr
from grafanalib import core as gl

from dashboards import uids

PROMETHEUS_DS = {"type": "prometheus", "uid": "${datasource}"}
ELASTICSEARCH_DS = {"type": "elasticsearch", "uid": uids.ELASTICSEARCH}

# Grafana unit ids (the dashboard-linter's list of valid units).
SECONDS = "s"
REQUESTS_PER_SECOND = "reqps"
OPS_PER_SECOND = "ops"
RATIO = "percentunit"
BYTES = "bytes"
COUNT = "short"
NONE = "none"

GRID_WIDTH = 24

Steps = list[dict[str, Any]]


def thresholds(*steps: tuple[float, str], base: str = "green") -> Steps:
    """Threshold steps for ``fieldConfig.defaults.thresholds``: a base colour, then ascending steps."""
    values = [value for value, _ in steps]
    if values != sorted(values):
        raise ValueError(f"threshold steps must ascend, got {values}")
    return [{"color": base, "value": None}, *({"color": color, "value": value} for value, color in steps)]


#: Share of failed requests: 1 % is worth a look, 5 % is an incident.
ERROR_RATIO = thresholds((0.01, "orange"), (0.05, "red"))
#: Request latency in seconds.
LATENCY = thresholds((0.25, "orange"), (1.0, "red"))
#: Used share of a limited resource.
SATURATION = thresholds((0.8, "orange"), (0.9, "red"))
#: Compliance with an objective: below 99 % is red, below 99.9 % orange.
COMPLIANCE = thresholds((0.99, "orange"), (0.999, "green"), base="red")
#: Error budget left: spent is red, the last quarter orange.
BUDGET = thresholds((0.0, "orange"), (0.25, "green"), base="red")
#: Anything above zero is worth attention (N+1 detections, failures).
ANY = thresholds((1e-9, "orange"))
#: Purely informative.
NEUTRAL = thresholds(base="blue")


@dataclass(frozen=True)
class Query:
    """One Prometheus target of a panel."""

    expr: str
    legend: str = ""
    #: Latency queries on histogram buckets: show exemplars that open the trace in Tempo.
    exemplar: bool = False
    #: Evaluate once at the end of the range (stats and tables) instead of as a range query.
    instant: bool = False


def _ref(index: int) -> str:
    return chr(ord("A") + index)


Targets = Sequence[Query] | Sequence[dict[str, Any]]


def _targets(queries: Targets) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The panel datasource and target dicts; raw dicts (Elasticsearch) pass through."""
    if queries and all(isinstance(q, dict) for q in queries):
        raw = [dict(q) for q in queries if isinstance(q, dict)]
        return raw[0]["datasource"], raw
    return PROMETHEUS_DS, prometheus_targets([q for q in queries if isinstance(q, Query)])


def prometheus_targets(queries: Sequence[Query], *, table: bool = False) -> list[dict[str, Any]]:
    """Raw target dicts (grafanalib's ``Target`` knows neither exemplars nor ``range``)."""
    if len(queries) > 26:
        raise ValueError("a panel takes at most 26 queries")
    return [
        {
            "datasource": PROMETHEUS_DS,
            "editorMode": "code",
            "exemplar": q.exemplar,
            "expr": q.expr,
            "format": "table" if table else "time_series",
            "instant": q.instant or table,
            "legendFormat": q.legend or "__auto",
            "range": not (q.instant or table),
            "refId": _ref(i),
        }
        for i, q in enumerate(queries)
    ]


def link(title: str, uid: str, **variables: str) -> dict[str, Any]:
    """A field data link to another dashboard, carrying the time range and variables.

    Variable values are Grafana expressions such as ``${__field.labels.job}`` (time series) or
    ``${__data.fields.job}`` (tables).
    """
    params = "".join(f"var-{name}={value}&" for name, value in sorted(variables.items()))
    return {
        "targetBlank": False,
        "title": title,
        "url": f"{uids.dashboard_path(uid)}?{params}${{__url_time_range}}",
    }


def explore_trace_link(title: str = "Open trace in Tempo") -> dict[str, Any]:
    """A data link that opens the trace id in the cell (``${__value.raw}``) in Explore/Tempo."""
    state = {
        "datasource": uids.TEMPO,
        "queries": [
            {
                "datasource": {"type": "tempo", "uid": uids.TEMPO},
                "query": "TRACE_ID",
                "queryType": "traceql",
                "refId": "A",
            }
        ],
        "range": {"from": "now-1h", "to": "now"},
    }
    encoded = quote(json.dumps(state, sort_keys=True, separators=(",", ":")), safe="")
    # The placeholder is swapped after encoding: Grafana must see ${__value.raw} verbatim.
    return {
        "targetBlank": True,
        "title": title,
        "url": "/explore?left=" + encoded.replace("TRACE_ID", "${__value.raw}"),
    }


def _size(w: int, h: int) -> gl.GridPos:
    if not 1 <= w <= GRID_WIDTH:
        raise ValueError(f"panel width must be 1..{GRID_WIDTH}, got {w}")
    return gl.GridPos(h=h, w=w, x=0, y=0)


def _links_json(links: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"fieldConfig": {"defaults": {"links": list(links)}}} if links else {}


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value
    return base


def _merge(*parts: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for part in parts:
        _deep_merge(result, json.loads(json.dumps(part)))
    return result


def timeseries(
    title: str,
    description: str,
    queries: Targets,
    unit: str,
    *,
    w: int = 12,
    h: int = 8,
    steps: Steps | None = None,
    stack: bool = False,
    links: Sequence[dict[str, Any]] = (),
    min_value: int | None = None,
    max_value: int | None = None,
) -> gl.TimeSeries:
    """A time series panel in the house style: table legend with mean/max/last, sorted tooltip."""
    datasource, targets = _targets(queries)
    return gl.TimeSeries(
        title=title,
        description=description,
        dataSource=datasource,
        targets=targets,
        unit=unit,
        gridPos=_size(w, h),
        thresholds=steps or NEUTRAL,
        thresholdsStyleMode="dashed" if steps else "off",
        legendDisplayMode="table",
        legendPlacement="bottom",
        legendCalcs=["mean", "max", "lastNotNull"],
        tooltipMode="multi",
        tooltipSort="desc",
        fillOpacity=20 if stack else 8,
        lineWidth=1,
        showPoints="never",
        stacking={"mode": "normal", "group": "A"} if stack else {"mode": "none", "group": "A"},
        valueMin=min_value,
        valueMax=max_value,
        extraJson=_links_json(links) or None,
    )


def stat(
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str,
    *,
    w: int = 6,
    h: int = 5,
    steps: Steps | None = None,
    links: Sequence[dict[str, Any]] = (),
    decimals: int | None = None,
) -> gl.Stat:
    """A stat panel showing the last value of each series, coloured by ``steps``."""
    return gl.Stat(
        title=title,
        description=description,
        dataSource=PROMETHEUS_DS,
        targets=prometheus_targets(queries),
        format=unit,
        gridPos=_size(w, h),
        thresholds=steps or NEUTRAL,
        colorMode="value",
        graphMode="area",
        reduceCalc="lastNotNull",
        decimals=decimals,
        noValue="No data",
        textMode="value_and_name",
        extraJson=_merge(
            {"fieldConfig": {"defaults": {"color": {"mode": "thresholds"}}}}, _links_json(links)
        ),
    )


@dataclass(frozen=True)
class Column:
    """One value column of a table: an instant query and how to show its values."""

    name: str
    expr: str
    unit: str
    steps: Steps | None = None


@dataclass(frozen=True)
class LabelLink:
    """A link on the cells of a label column (``${__value.raw}`` is the cell's value)."""

    label: str
    links: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def table(
    title: str,
    description: str,
    labels: Sequence[str],
    columns: Sequence[Column],
    *,
    w: int = 24,
    h: int = 9,
    sort_by: str | None = None,
    label_links: Sequence[LabelLink] = (),
) -> gl.Table:
    """A table with one row per label set and one column per query, merged on the labels."""
    queries = [Query(c.expr, instant=True) for c in columns]
    overrides: list[dict[str, Any]] = []
    for i, column in enumerate(columns):
        props: list[dict[str, Any]] = [
            {"id": "displayName", "value": column.name},
            {"id": "unit", "value": column.unit},
        ]
        if column.steps:
            props += [
                {"id": "thresholds", "value": {"mode": "absolute", "steps": column.steps}},
                {"id": "custom.cellOptions", "value": {"type": "color-text"}},
            ]
        overrides.append({"matcher": {"id": "byName", "options": f"Value #{_ref(i)}"}, "properties": props})
    overrides.extend(
        {
            "matcher": {"id": "byName", "options": label_link.label},
            "properties": [{"id": "links", "value": list(label_link.links)}],
        }
        for label_link in label_links
    )
    order = {name: i for i, name in enumerate([*labels, *(f"Value #{_ref(i)}" for i in range(len(columns)))])}
    return gl.Table(
        title=title,
        description=description,
        dataSource=PROMETHEUS_DS,
        targets=prometheus_targets(queries, table=True),
        gridPos=_size(w, h),
        unit=columns[0].unit,
        thresholds=NEUTRAL,
        overrides=overrides,
        filterable=True,
        sortBy=[gl.TableSortByField(displayName=sort_by, desc=True)] if sort_by else [],
        transformations=[
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {"excludeByName": {"Time": True}, "indexByName": order, "renameByName": {}},
            },
        ],
    )


def row(title: str) -> gl.RowPanel:
    """A row header; the panels after it, up to the next row, belong to it."""
    return gl.RowPanel(title=title, gridPos=gl.GridPos(h=1, w=GRID_WIDTH, x=0, y=0))


@dataclass(frozen=True)
class Section:
    """A titled row of panels; :func:`layout` flows the panels left to right, wrapping at 24."""

    title: str
    panels: Sequence[gl.Panel]


def layout(sections: Sequence[Section]) -> list[gl.Panel]:
    """Give every panel its grid position: rows stacked, panels flowing within each row."""
    placed: list[gl.Panel] = []
    y = 0
    for section in sections:
        placed.append(attr.evolve(row(section.title), gridPos=gl.GridPos(h=1, w=GRID_WIDTH, x=0, y=y)))
        y += 1
        x = line_height = 0
        for panel in section.panels:
            w, h = panel.gridPos.w, panel.gridPos.h
            if x + w > GRID_WIDTH:
                y += line_height
                x = line_height = 0
            placed.append(attr.evolve(panel, gridPos=gl.GridPos(h=h, w=w, x=x, y=y)))
            x += w
            line_height = max(line_height, h)
        y += line_height
    return placed
