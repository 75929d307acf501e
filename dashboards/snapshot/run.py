"""Run every panel's targets against Prometheus, as Grafana would for the chosen range.

Each Prometheus target is expanded (:mod:`dashboards.expand`) with the panel's own interval, which
depends on its width: a panel ``w`` grid columns wide on a dashboard :data:`DASHBOARD_WIDTH` pixels
wide asks for ``w / 24 * DASHBOARD_WIDTH`` points. Range targets go to ``query_range`` over the
step-aligned range; instant targets (stats, tables) to ``query`` at the end of the range. A
target with no data is explained (:mod:`dashboards.snapshot.why`). Elasticsearch targets are not
run: the snapshot shows their expanded query instead. Requests run on a small thread pool; the
results keep the dashboard's order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dashboards.expand import Interval, Selection, interpolate
from dashboards.snapshot.prometheus import Prometheus, PrometheusUnavailable, QueryError
from dashboards.snapshot.why import Reason, explain

Json = dict[str, Any]
#: Width in pixels Grafana lays the 24 grid columns over (a 1920-pixel screen, side menu docked).
DASHBOARD_WIDTH = 1600
GRID_COLUMNS = 24
#: Requests to Prometheus in flight at once.
CONCURRENCY = 8
_LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

NOT_RENDERED = "not rendered"
DATA = "data"
EMPTY = "empty"
ERROR = "error"


@dataclass
class Series:
    name: str
    labels: dict[str, str]
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    @property
    def last(self) -> float | None:
        finite = [v for v in self.values if not math.isnan(v)]
        return finite[-1] if finite else None


@dataclass
class TargetResult:
    ref_id: str
    expr: str
    instant: bool
    datasource: str = "prometheus"
    series: list[Series] = field(default_factory=list)
    error: str | None = None
    reason: Reason | None = None
    #: Elasticsearch and other datasources: the query, expanded, that Grafana would send.
    not_run: bool = False
    #: The target as the dashboard has it.
    raw: Json = field(default_factory=dict)


@dataclass
class PanelResult:
    panel: Json
    interval: Interval
    targets: list[TargetResult]

    @property
    def status(self) -> str:
        if any(t.not_run for t in self.targets):
            return NOT_RENDERED
        if any(t.series for t in self.targets):
            return DATA
        if any(t.error for t in self.targets):
            return ERROR
        return EMPTY


@dataclass
class DashboardResult:
    dashboard: Json
    selections: Mapping[str, Selection]
    panels: list[PanelResult]
    start: float
    end: float
    scrape_interval: float


def panel_width(panel: Json) -> int:
    """The panel's width in pixels, which Grafana uses as its ``maxDataPoints``."""
    if panel.get("maxDataPoints"):
        return int(panel["maxDataPoints"])
    columns = int(panel.get("gridPos", {}).get("w", GRID_COLUMNS))
    return round(columns / GRID_COLUMNS * DASHBOARD_WIDTH)


def walk_panels(dashboard: Json) -> Iterator[Json]:
    """Every panel in reading order, the panels of collapsed rows after their row."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def legend(fmt: str | None, labels: Mapping[str, str], expr: str) -> str:
    """A series' display name from the target's ``legendFormat``, as Grafana writes it."""
    if fmt and fmt != "__auto":
        return _LEGEND_LABEL.sub(lambda m: labels.get(m.group(1), ""), fmt).strip()
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    name = labels.get("__name__", "")
    if not shown:
        return name or expr
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}"


def _range_series(result: list[Json], fmt: str | None, expr: str, step: float) -> list[Series]:
    found = []
    for item in result:
        series = Series(legend(fmt, item["metric"], expr), dict(item["metric"]))
        previous: float | None = None
        for stamp, text in item.get("values", []):
            if previous is not None and stamp - previous > 1.5 * step:
                series.times.append(previous + step)
                series.values.append(math.nan)  # a gap, as Grafana draws it with spanNulls off
            series.times.append(float(stamp))
            series.values.append(float(text))
            previous = float(stamp)
        found.append(series)
    return found


def _instant_series(result: list[Json], fmt: str | None, expr: str) -> list[Series]:
    return [
        Series(
            legend(fmt, item["metric"], expr),
            dict(item["metric"]),
            [item["value"][0]],
            [float(item["value"][1])],
        )
        for item in result
    ]


class Runner:
    """Runs dashboards' panels against one Prometheus."""

    def __init__(self, prometheus: Prometheus, *, scrape_interval: float, explain_empty: bool = True) -> None:
        self.prometheus = prometheus
        self.scrape_interval = scrape_interval
        self.explain_empty = explain_empty
        self._pool = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="snapshot")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def lister(self, start: float, end: float) -> Callable[[Json, str], list[str]]:
        """Lists a query variable's values as Grafana does for ``label_values(selector, label)``."""

        def values(_variable: Json, query: str) -> list[str]:
            match = re.fullmatch(r"\s*label_values\((?:(.+),)?\s*(\w+)\s*\)\s*", query)
            if not match:
                return []
            selector = (match.group(1) or "").strip() or "{__name__=~'.+'}"
            try:
                return self.prometheus.label_values(match.group(2), selector, start, end)
            except QueryError:
                return []

        return values

    def _target(self, target: Json, interval: Interval, selections: Mapping[str, Selection]) -> TargetResult:
        datasource = str(target.get("datasource", {}).get("type", "prometheus"))
        builtins = interval.builtins()
        if "expr" not in target:
            query = interpolate(str(target.get("query", "")), selections, builtins, datasource)
            return TargetResult(target.get("refId", "A"), query, False, datasource, not_run=True, raw=target)
        expr = interpolate(target["expr"], selections, builtins)
        instant = bool(target.get("instant")) and not target.get("range")
        result = TargetResult(target.get("refId", "A"), expr, instant)
        fmt = target.get("legendFormat")
        try:
            if instant:
                result.series = _instant_series(self.prometheus.query(expr, interval.end), fmt, expr)
            else:
                start, end = interval.aligned()
                raw = self.prometheus.query_range(expr, start, end, interval.step)
                result.series = _range_series(raw, fmt, expr, interval.step)
        except QueryError as exc:
            result.error = str(exc)
            return result
        if not result.series and self.explain_empty:
            result.reason = explain(self.prometheus, expr, interval.start, interval.end)
        return result

    def run(
        self, dashboard: Json, selections: Mapping[str, Selection], start: float, end: float
    ) -> DashboardResult:
        """Every panel of ``dashboard`` with its targets' data (or the reason it has none)."""
        return self.submit(dashboard, selections, start, end)()

    def submit(
        self, dashboard: Json, selections: Mapping[str, Selection], start: float, end: float
    ) -> Callable[[], DashboardResult]:
        """Start ``dashboard``'s queries; the returned function waits for them and gives the result
        (so one dashboard can be drawn while the next one's queries run)."""
        pending: list[tuple[Json, Interval, list[Future[TargetResult]]]] = []
        for panel in walk_panels(dashboard):
            if panel.get("type") == "row":
                pending.append((panel, Interval(start, end, 1, self.scrape_interval), []))
                continue
            interval = Interval(start, end, panel_width(panel), self.scrape_interval)
            futures = [
                self._pool.submit(self._target, target, interval, selections)
                for target in panel.get("targets", [])
                if not target.get("hide")
            ]
            pending.append((panel, interval, futures))

        def result() -> DashboardResult:
            panels = []
            for panel, interval, futures in pending:
                try:
                    targets = [f.result() for f in futures]
                except PrometheusUnavailable:
                    for other in pending:
                        for future in other[2]:
                            future.cancel()
                    raise
                panels.append(PanelResult(panel, interval, targets))
            return DashboardResult(dashboard, selections, panels, start, end, self.scrape_interval)

        return result
