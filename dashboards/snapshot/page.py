"""HTML pages of a snapshot: one per dashboard and an index, each a single self-contained file.

A dashboard page has a header (title, description, the range with its time zone, the variables
as expanded, the Prometheus the data came from, the scrape interval used for the intervals) and
then the dashboard's rows in order, each row a 24-column grid placing panels where Grafana puts
them (``gridPos``). Below a laptop-sized width panels take the whole width. Panel bodies:

    timeseries   inline SVG chart (:mod:`dashboards.snapshot.charts`) and a table legend
    stat         each series' value in the panel's unit, coloured by its thresholds
    table        the targets merged on their labels, columns named, ordered and sorted as the
                 panel's transformations and overrides say, cells coloured by thresholds
    other        Elasticsearch (and any other datasource's) panels: marked not rendered, with
                 the query Grafana would send

A panel without data says "No data" and why (:mod:`dashboards.snapshot.why`); every Prometheus
panel lists its expanded queries, step and rate interval in a closed ``<details>``. Styles are
inline, follow ``prefers-color-scheme``, and nothing is loaded from anywhere: the page works
offline and as a CI artefact. No script runs.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dashboards.expand import duration
from dashboards.snapshot.charts import CALCS, chart_height, timeseries_svg
from dashboards.snapshot.run import (
    DATA,
    EMPTY,
    ERROR,
    NOT_RENDERED,
    DashboardResult,
    PanelResult,
    panel_width,
)
from dashboards.snapshot.units import format_value, threshold_color

Json = dict[str, Any]


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


STYLE = """
:root { color-scheme: light dark;
  --bg: #f4f5f5; --panel: #ffffff; --fg: #24292e; --muted: #5b6370; --border: #d9dde3;
  --chart-fg: #4a515b; --chart-grid: #e3e6ea; --accent: #1f60c4; --code: #eef1f4; }
@media (prefers-color-scheme: dark) { :root {
  --bg: #111217; --panel: #181b1f; --fg: #d8d9e3; --muted: #9a9cab; --border: #2c3235;
  --chart-fg: #a4abb6; --chart-grid: #2c3235; --accent: #6e9fff; --code: #22252b; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
a { color: var(--accent); }
header.page { padding: 16px 20px 8px; border-bottom: 1px solid var(--border); background: var(--panel); }
header.page h1 { margin: 4px 0; font-size: 22px; font-weight: 600; }
header.page p.lead { margin: 4px 0 10px; color: var(--muted); max-width: 110ch; }
nav.crumbs { font-size: 13px; color: var(--muted); }
nav.crumbs a { margin-right: 10px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 8px 0;
  font-size: 13px; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.vars span { display: inline-block; margin: 0 6px 4px 0; padding: 1px 8px; border: 1px solid var(--border);
  border-radius: 3px; background: var(--bg); }
.vars b { font-weight: 600; color: var(--muted); }
main { padding: 8px 20px 24px; }
section.row > h2 { font-size: 16px; font-weight: 600; margin: 18px 0 8px; padding-bottom: 4px;
  border-bottom: 1px solid var(--border); }
.grid { display: grid; grid-template-columns: repeat(24, minmax(0, 1fr)); gap: 8px; }
article.panel { background: var(--panel); border: 1px solid var(--border); border-radius: 4px;
  padding: 8px 10px; min-width: 0; display: flex; flex-direction: column; }
article.panel h3 { font-size: 14px; font-weight: 600; margin: 0 0 2px; }
article.panel p.desc { margin: 0 0 6px; font-size: 12px; color: var(--muted); display: -webkit-box;
  -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden; }
svg.chart { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; font-size: 12px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--border); white-space: nowrap; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; }
.table-wrap { overflow-x: auto; }
table.legend { margin-top: 4px; }
table.legend td:first-child { max-width: 0; width: 100%; overflow: hidden; text-overflow: ellipsis; }
.swatch { display: inline-block; width: 14px; height: 4px; border-radius: 2px; margin-right: 6px;
  vertical-align: middle; }
.legend-wrap { max-height: 9.5em; overflow-y: auto; }
.stats { display: flex; flex-wrap: wrap; gap: 4px 18px; align-items: flex-end; flex: 1; }
.stat .name { font-size: 12px; color: var(--muted); }
.stat .value { font-size: 28px; font-weight: 600; line-height: 1.15; }
.nodata { flex: 1; display: flex; flex-direction: column; justify-content: center; align-items: center;
  color: var(--muted); text-align: center; padding: 10px; }
.nodata strong { font-size: 16px; color: var(--fg); }
.nodata ul { margin: 6px 0 0; padding: 0; list-style: none; font-size: 12px; }
.badge { display: inline-block; font-size: 11px; padding: 1px 6px; border-radius: 3px;
  border: 1px solid var(--border); color: var(--muted); margin-bottom: 6px; }
.badge.error { color: #e02f44; border-color: #e02f44; }
pre { background: var(--code); padding: 6px 8px; border-radius: 3px; font-size: 11.5px;
  white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0; }
details.queries { margin-top: auto; padding-top: 6px; font-size: 12px; color: var(--muted); }
details.queries summary { cursor: pointer; }
.not-rendered { font-size: 12px; color: var(--muted); }
p.partial { font-size: 12px; color: var(--muted); margin: 4px 0 0; }
ul.boards { list-style: none; padding: 0; display: grid; gap: 10px;
  grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); }
ul.boards li { background: var(--panel); border: 1px solid var(--border); border-radius: 4px; padding: 12px; }
ul.boards h2 { font-size: 16px; margin: 0 0 4px; }
ul.boards p { margin: 4px 0; color: var(--muted); font-size: 13px; }
footer { padding: 8px 20px 20px; font-size: 12px; color: var(--muted); }
@media (max-width: 900px) {
  .grid > article.panel { grid-column: 1 / -1 !important; grid-row: auto !important; }
  main, header.page { padding-left: 10px; padding-right: 10px; } }
"""


@dataclass(frozen=True)
class PageContext:
    """What every page of one snapshot shares."""

    prometheus_url: str
    tz: dt.tzinfo
    generated: float
    #: (file name, title) of every dashboard in the snapshot, for the navigation.
    dashboards: Sequence[tuple[str, str]] = ()


def _time(stamp: float, tz: dt.tzinfo) -> str:
    return dt.datetime.fromtimestamp(stamp, tz).strftime("%Y-%m-%d %H:%M:%S")


def _zone(stamp: float, tz: dt.tzinfo) -> str:
    moment = dt.datetime.fromtimestamp(stamp, tz)
    offset = moment.strftime("%z")
    name = moment.tzname() or ""
    return (
        f"{name} (UTC{offset[:3]}:{offset[3:]})"
        if name and not name.startswith(("UTC", "+", "-"))
        else f"UTC{offset[:3]}:{offset[3:]}"
    )


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _range_rows(start: float, end: float, context: PageContext) -> str:
    return (
        f"<dt>Range</dt><dd>{esc(_time(start, context.tz))} to {esc(_time(end, context.tz))} "
        f"{esc(_zone(end, context.tz))} ({esc(duration(round(end - start)))})</dd>"
        f"<dt>Prometheus</dt><dd>{esc(context.prometheus_url)}</dd>"
    )


def _variables(result: DashboardResult) -> str:
    shown = []
    for selection in result.selections.values():
        if selection.name == "datasource":
            continue
        shown.append(f"<span><b>{esc(selection.label or selection.name)}</b> {esc(selection.text)}</span>")
    return "".join(shown) or "none"


def _defaults(panel: Json) -> Json:
    defaults: Json = panel.get("fieldConfig", {}).get("defaults", {})
    return defaults


def _queries(result: PanelResult) -> str:
    run = [t for t in result.targets if not t.not_run]
    if not run:
        return ""
    parts = []
    for target in run:
        kind = "instant, at the end of the range" if target.instant else "range"
        parts.append(f"<div>{esc(target.ref_id)} ({kind})</div><pre>{esc(target.expr)}</pre>")
    interval = result.interval
    steps = (
        f"step {duration(interval.step)}, $__rate_interval {duration(interval.rate_interval)}, "
        f"{panel_width(result.panel)} points wide"
    )
    return f'<details class="queries"><summary>Queries ({esc(steps)})</summary>{"".join(parts)}</details>'


def _no_data(result: PanelResult) -> str:
    reasons = []
    for target in result.targets:
        why = f"Prometheus refused the query: {target.error}" if target.error else target.reason or "no data"
        reasons.append(f"<li>{esc(target.ref_id)}: {esc(why)}</li>")
    heading = "Query error" if result.status == ERROR else "No data"
    return f'<div class="nodata"><strong>{heading}</strong><ul>{"".join(reasons)}</ul></div>'


def _partial(result: PanelResult) -> str:
    lines = []
    for target in result.targets:
        if target.series:
            continue
        why = f"refused: {target.error}" if target.error else str(target.reason or "no data")
        lines.append(f'<p class="partial">Query {esc(target.ref_id)} returned nothing: {esc(why)}</p>')
    return "".join(lines)


def _timeseries(result: PanelResult, context: PageContext) -> str:
    width = panel_width(result.panel)
    svg, rows = timeseries_svg(result, width, chart_height(result.panel), context.tz)
    calcs = [c for c in result.panel.get("options", {}).get("legend", {}).get("calcs", []) if c in CALCS]
    head = "".join(f'<th class="num">{esc(CALCS[c])}</th>' for c in calcs)
    body = "".join(
        f'<tr><td title="{esc(row.name)}"><span class="swatch" style="background:{row.color}"></span>'
        f"{esc(row.name)}</td>"
        + "".join(f'<td class="num">{esc(row.calcs[c])}</td>' for c in calcs)
        + "</tr>"
        for row in rows
    )
    legend = (
        f'<div class="legend-wrap"><table class="legend"><tr><th>Name</th>{head}</tr>{body}</table></div>'
    )
    return svg + legend


def _stat(result: PanelResult) -> str:
    defaults = _defaults(result.panel)
    unit, decimals = defaults.get("unit"), defaults.get("decimals")
    steps = defaults.get("thresholds", {}).get("steps")
    series = [s for t in result.targets for s in t.series]
    items = []
    for s in series:
        value = s.last
        colour = threshold_color(value, steps) if value is not None else None
        style = f' style="color:{colour}"' if colour and colour != "currentColor" else ""
        name = f'<div class="name">{esc(s.name)}</div>' if len(series) > 1 or s.labels else ""
        shown = (
            format_value(value, unit, decimals) if value is not None else defaults.get("noValue", "No data")
        )
        items.append(f'<div class="stat">{name}<div class="value"{style}>{esc(shown)}</div></div>')
    return f'<div class="stats">{"".join(items)}</div>'


def _overrides(panel: Json) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        matcher = override.get("matcher", {})
        if matcher.get("id") != "byName":
            continue
        props = found.setdefault(str(matcher.get("options")), {})
        for prop in override.get("properties", []):
            props[prop["id"]] = prop.get("value")
    return found


@dataclass(frozen=True)
class Column:
    field: str
    header: str
    unit: str | None
    decimals: int | None
    steps: Sequence[Mapping[str, Any]] | None
    numeric: bool


def table_data(result: PanelResult) -> tuple[list[Column], list[dict[str, Any]]]:
    """The panel's columns and rows: targets merged on their labels, as the merge transformation does."""
    rows: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    label_names: list[str] = []
    value_fields: list[str] = []
    single = len(result.targets) == 1
    for target in result.targets:
        value_field = "Value" if single else f"Value #{target.ref_id}"
        if value_field not in value_fields:
            value_fields.append(value_field)
        for s in target.series:
            labels = {k: v for k, v in s.labels.items() if k != "__name__"}
            for name in labels:
                if name not in label_names:
                    label_names.append(name)
            row = rows.setdefault(tuple(sorted(labels.items())), dict(labels))
            row[value_field] = s.last
    organize: Json = {}
    for transformation in result.panel.get("transformations", []):
        if transformation.get("id") == "organize":
            organize = transformation.get("options", {})
    excluded = {k for k, v in organize.get("excludeByName", {}).items() if v}
    order = organize.get("indexByName", {})
    renames = organize.get("renameByName", {})
    fields = [f for f in [*label_names, *value_fields] if f not in excluded]
    position = {f: i for i, f in enumerate(fields)}
    fields.sort(key=lambda f: (order.get(f, len(order) + position[f]), position[f]))
    defaults = _defaults(result.panel)
    overrides = _overrides(result.panel)
    columns = []
    for name in fields:
        props = overrides.get(name, {})
        numeric = name in value_fields
        cell = props.get("custom.cellOptions") or defaults.get("custom", {}).get("cellOptions", {})
        coloured = cell.get("type") in ("color-text", "color-background")
        thresholds = props.get("thresholds") or (defaults.get("thresholds") if coloured else None)
        columns.append(
            Column(
                field=name,
                header=str(props.get("displayName") or renames.get(name) or name),
                unit=props.get("unit", defaults.get("unit")) if numeric else "string",
                decimals=props.get("decimals", defaults.get("decimals")),
                steps=thresholds.get("steps") if coloured and thresholds else None,
                numeric=numeric,
            )
        )
    ordered = list(rows.values())
    for sort in reversed(result.panel.get("options", {}).get("sortBy", [])):
        column = next((c for c in columns if c.header == sort.get("displayName")), None)
        if column is None:
            continue
        present = [r for r in ordered if isinstance(r.get(column.field), (int, float))]
        missing = [r for r in ordered if not isinstance(r.get(column.field), (int, float))]
        present.sort(
            key=lambda r: (math.isnan(r[column.field]), r[column.field]), reverse=bool(sort.get("desc"))
        )
        ordered = present + missing
    return columns, ordered


def _table(result: PanelResult) -> str:
    columns, rows = table_data(result)
    head = "".join(f'<th class="{"num" if c.numeric else ""}">{esc(c.header)}</th>' for c in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column.field)
            text = format_value(value, column.unit, column.decimals) if value is not None else ""
            colour = threshold_color(value, column.steps) if value is not None and column.steps else None
            style = f' style="color:{colour}"' if colour and colour != "currentColor" else ""
            cells.append(f'<td class="{"num" if column.numeric else ""}"{style}>{esc(text)}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<div class="table-wrap"><table><tr>{head}</tr>{"".join(body)}</table></div>'


def _not_rendered(result: PanelResult) -> str:
    kinds = sorted({t.datasource for t in result.targets if t.not_run})
    names = ", ".join(k.capitalize() for k in kinds)
    queries = "".join(f"<pre>{esc(t.expr)}</pre>{_aggregations(t.raw)}" for t in result.targets if t.not_run)
    return (
        f'<div class="not-rendered"><span class="badge">{esc(names)} panel: not rendered in a snapshot</span>'
        f"<div>The query Grafana sends to {esc(names)}:</div>{queries}</div>"
    )


def _aggregations(target: Json) -> str:
    """What an Elasticsearch target computes: its metrics, grouped by its bucket aggregations."""
    metrics = [str(m.get("type", "")) for m in target.get("metrics", [])]
    groups = []
    for bucket in target.get("bucketAggs", []):
        kind, name = bucket.get("type"), bucket.get("field", "")
        groups.append(f"per interval of {name}" if kind == "date_histogram" else f"by {name} ({kind})")
    if not metrics:
        return ""
    return f"<div>{esc(', '.join(metrics))} {esc(', '.join(groups))}</div>"


def panel_html(result: PanelResult, context: PageContext, line: int) -> str:
    panel = result.panel
    pos = panel.get("gridPos", {})
    style = f"grid-column: {pos.get('x', 0) + 1} / span {pos.get('w', 24)}; grid-row: {line}"
    status = result.status
    if status == NOT_RENDERED:
        body = _not_rendered(result)
    elif status in (EMPTY, ERROR):
        body = _no_data(result)
    elif panel.get("type") == "stat":
        body = _stat(result) + _partial(result)
    elif panel.get("type") == "table":
        body = _table(result) + _partial(result)
    else:
        body = _timeseries(result, context) + _partial(result)
    description = panel.get("description", "")
    desc = f'<p class="desc" title="{esc(description)}">{esc(description)}</p>' if description else ""
    return (
        f'<article class="panel {esc(panel.get("type", ""))} {status.replace(" ", "-")}" '
        f'data-panel-id="{esc(panel.get("id", ""))}" data-status="{esc(status)}" style="{style}">'
        f"<h3>{esc(panel.get('title', ''))}</h3>{desc}{body}{_queries(result)}</article>"
    )


def _rows(result: DashboardResult) -> list[tuple[str, list[PanelResult]]]:
    rows: list[tuple[str, list[PanelResult]]] = []
    for panel in result.panels:
        if panel.panel.get("type") == "row":
            rows.append((str(panel.panel.get("title", "")), []))
        else:
            if not rows:
                rows.append(("", []))
            rows[-1][1].append(panel)
    return rows


def dashboard_page(result: DashboardResult, context: PageContext) -> str:
    """The HTML of one dashboard's snapshot."""
    dashboard = result.dashboard
    sections = []
    for title, panels in _rows(result):
        lines = sorted({p.panel.get("gridPos", {}).get("y", 0) for p in panels})
        line_of = {y: i + 1 for i, y in enumerate(lines)}
        inner = "".join(
            panel_html(p, context, line_of[p.panel.get("gridPos", {}).get("y", 0)]) for p in panels
        )
        heading = f"<h2>{esc(title)}</h2>" if title else ""
        sections.append(f'<section class="row">{heading}<div class="grid">{inner}</div></section>')
    nav = " ".join(
        f'<a href="{esc(name)}">{esc(title)}</a>'
        for name, title in context.dashboards
        if title != dashboard.get("title")
    )
    counts = _counts(result)
    header = (
        f'<header class="page"><nav class="crumbs"><a href="index.html">All dashboards</a> {nav}</nav>'
        f"<h1>{esc(dashboard.get('title', ''))}</h1>"
        f'<p class="lead">{esc(dashboard.get("description", ""))}</p>'
        f'<dl class="meta">{_range_rows(result.start, result.end, context)}'
        f'<dt>Variables</dt><dd class="vars">{_variables(result)}</dd>'
        f"<dt>Scrape interval</dt><dd>{esc(duration(result.scrape_interval))} "
        "(the least step; sets $__rate_interval)</dd>"
        f"<dt>Panels</dt><dd>{esc(counts)}</dd></dl></header>"
    )
    footer = (
        f"<footer>Snapshot of the {esc(dashboard.get('uid', ''))} dashboard taken "
        f"{esc(_time(context.generated, context.tz))} by fleetobs dashboards snapshot.</footer>"
    )
    return _document(str(dashboard.get("title", "")), header + f"<main>{''.join(sections)}</main>" + footer)


def _counts(result: DashboardResult) -> str:
    statuses = [p.status for p in result.panels if p.panel.get("type") != "row"]
    parts = [f"{statuses.count(DATA)} with data"]
    for status, label in (
        (EMPTY, "without data"),
        (ERROR, "with query errors"),
        (NOT_RENDERED, "not rendered"),
    ):
        if statuses.count(status):
            parts.append(f"{statuses.count(status)} {label}")
    return ", ".join(parts)


def index_page(results: Sequence[tuple[str, DashboardResult]], context: PageContext) -> str:
    """The HTML of the snapshot's index: every dashboard with its description and panel counts."""
    items = "".join(
        f'<li><h2><a href="{esc(name)}">{esc(r.dashboard.get("title", ""))}</a></h2>'
        f"<p>{esc(r.dashboard.get('description', ''))}</p><p>{esc(_counts(r))}</p></li>"
        for name, r in results
    )
    first = results[0][1] if results else None
    meta = _range_rows(first.start, first.end, context) if first else ""
    header = (
        '<header class="page"><h1>Fleet dashboards snapshot</h1>'
        '<p class="lead">The Grafana dashboards, drawn from the Prometheus below without Grafana.</p>'
        f'<dl class="meta">{meta}</dl></header>'
    )
    footer = (
        f"<footer>Taken {esc(_time(context.generated, context.tz))} by fleetobs dashboards snapshot.</footer>"
    )
    return _document(
        "Fleet dashboards snapshot", header + f'<main><ul class="boards">{items}</ul></main>' + footer
    )
