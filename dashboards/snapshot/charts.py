"""Time series panels drawn as inline SVG with matplotlib, styled by the page.

A chart follows the panel's field config: unit on the y axis, ``min``/``max``, stacking,
fill opacity, line width, and dashed threshold lines when ``thresholdsStyle`` asks for them (drawn
inside the data's range, which they do not stretch). Series take Grafana's classic palette in
order. Text, axes and grid are drawn in placeholder colours that become CSS variables, so one SVG
reads on the page's light and dark themes; the background is transparent. Ids inside each SVG
are salted with the panel's id, so many charts can share one page. The legend is not drawn here:
:func:`timeseries_svg` returns its rows (name, colour, and the panel's legend calculations) for
the page to show as a table, as Grafana's table legend does.

matplotlib is imported when the first chart is drawn, through its object API (no pyplot, no
global figure state).
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dashboards.snapshot.run import PanelResult, Series
from dashboards.snapshot.units import PALETTE, color, format_value

#: Placeholder colours swapped for CSS variables in the SVG text.
_FOREGROUND = "#010203"
_GRID = "#040506"
_SWAPS = {_FOREGROUND: "var(--chart-fg)", _GRID: "var(--chart-grid)"}
#: Height of a grid unit in Grafana, pixels.
GRID_UNIT_HEIGHT = 30
CALCS = {"mean": "Mean", "max": "Max", "min": "Min", "lastNotNull": "Last *", "last": "Last", "sum": "Total"}


@dataclass(frozen=True)
class LegendRow:
    name: str
    color: str
    calcs: dict[str, str]


class MissingPlottingLibrary(RuntimeError):  # noqa: N818 - reads as the condition it reports
    pass


def _calc(values: Sequence[float], calc: str) -> float | None:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return None
    if calc == "mean":
        return sum(finite) / len(finite)
    if calc == "max":
        return max(finite)
    if calc == "min":
        return min(finite)
    if calc == "sum":
        return sum(finite)
    if calc == "last":
        return values[-1] if values and not math.isnan(values[-1]) else None
    return finite[-1]


def _clean_svg(svg: str) -> str:
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    svg = re.sub(r'\s(?:width|height)="[0-9.]+pt"', "", svg, count=2)
    svg = svg.replace("<svg ", '<svg class="chart" role="img" ', 1)
    svg = re.sub(r"font-family:\s*[^;\"]+", "font-family: inherit", svg)
    svg = re.sub(r"font:\s*([0-9.]+px)\s+'[^']*'", r"font: \1 inherit", svg)
    for placeholder, variable in _SWAPS.items():
        svg = svg.replace(placeholder, variable)
    return svg


def _stacked(series: Sequence[Series]) -> list[tuple[list[float], list[float], list[float]]]:
    """(times, bottom, top) per series, stacked in order on a shared time grid."""
    grid = sorted({t for s in series for t in s.times})
    base = dict.fromkeys(grid, 0.0)
    stacked = []
    for s in series:
        own = dict(zip(s.times, s.values, strict=True))
        bottom = [base[t] for t in grid]
        top = []
        for t in grid:
            value = own.get(t, math.nan)
            base[t] += 0.0 if math.isnan(value) else value
            top.append(base[t] if not math.isnan(value) else math.nan)
        stacked.append((grid, bottom, top))
    return stacked


#: Spacings of time-axis ticks, seconds.
_TIME_STEPS = (
    10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
)  # fmt: skip
#: Tick-label font size, and the space around the plot, in points (matplotlib's SVG unit).
_FONT = 9
_TOP, _RIGHT, _BOTTOM = 6.0, 6.0, 18.0
#: Width of one tick-label character, points.
_CHAR = 0.62 * _FONT


def time_ticks(start: float, end: float, width: int, tz: dt.tzinfo) -> tuple[list[float], list[str]]:
    """Round local times between ``start`` and ``end``, about one per 110 pixels, and their labels."""
    most = max(2, width // 110)
    span = end - start
    step = next((s for s in _TIME_STEPS if span / s <= most), _TIME_STEPS[-1])
    offset = dt.datetime.fromtimestamp(start, tz).utcoffset() or dt.timedelta()
    shift = offset.total_seconds()
    first = math.ceil((start + shift) / step) * step - shift
    margin = span * 0.04  # a label centred on the edge would be cut off
    ticks = [first + i * step for i in range(int((end - first) // step) + 1)]
    ticks = [t for t in ticks if start + margin <= t <= end - margin] or ticks[:1]
    fmt = "%m-%d %H:%M" if span > 1.5 * 86400 else "%H:%M" if step >= 60 else "%H:%M:%S"
    return ticks, [dt.datetime.fromtimestamp(t, tz).strftime(fmt) for t in ticks]


def timeseries_svg(
    result: PanelResult, width: int, height: int, tz: dt.tzinfo
) -> tuple[str, list[LegendRow]]:
    """The panel's chart as SVG text, and its legend rows."""
    try:
        import matplotlib as mpl
        from matplotlib import ticker
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - the dashboards extra installs it
        raise MissingPlottingLibrary(
            "drawing charts needs matplotlib: pip install 'django-fleet-observability[dashboards]'"
        ) from exc

    panel = result.panel
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    custom = defaults.get("custom", {})
    unit, decimals = defaults.get("unit"), defaults.get("decimals")
    series = [s for t in result.targets for s in t.series]
    stacking = custom.get("stacking", {}).get("mode", "none") == "normal"
    fill = float(custom.get("fillOpacity", 0)) / 100
    line_width = float(custom.get("lineWidth", 1)) * 1.25
    calcs = [c for c in panel.get("options", {}).get("legend", {}).get("calcs", []) if c in CALCS]
    start, end = result.interval.start, result.interval.end

    style: dict[str, Any] = {
        "svg.fonttype": "none",
        "svg.hashsalt": f"panel-{panel.get('id', 0)}",
        "font.size": _FONT,
        "axes.edgecolor": _GRID,
        "xtick.color": _FOREGROUND,
        "ytick.color": _FOREGROUND,
        "text.color": _FOREGROUND,
    }
    with mpl.rc_context(style):  # type: ignore[arg-type]  # the stubs list each key
        figure = Figure(figsize=(width / 100, height / 100), dpi=100)
        figure.patch.set_alpha(0)
        axes = figure.add_subplot()
        axes.set_facecolor("none")
        for side in ("top", "right", "left"):
            axes.spines[side].set_visible(False)
        axes.grid(True, color=_GRID, linewidth=0.6)
        axes.tick_params(length=0, pad=4)
        rows: list[LegendRow] = []
        paths = _stacked(series) if stacking else None
        for index, s in enumerate(series):
            colour = PALETTE[index % len(PALETTE)]
            if paths is not None:
                grid, bottom, top = paths[index]
                axes.plot(grid, top, color=colour, linewidth=line_width)
                axes.fill_between(grid, bottom, top, color=colour, alpha=max(fill, 0.1), linewidth=0)
            else:
                axes.plot(s.times, s.values, color=colour, linewidth=line_width)
                if fill:
                    axes.fill_between(s.times, s.values, color=colour, alpha=fill, linewidth=0)
            values = {c: format_value(_calc(s.values, c), unit, decimals) for c in calcs}
            rows.append(LegendRow(s.name, colour, values))
        axes.set_xlim(start, end)
        low, high = axes.get_ylim() if series else (0.0, 1.0)
        low = float(defaults.get("min", low))
        high = float(defaults.get("max", high))
        if low == high:
            low, high = low - 1, high + 1
        if custom.get("thresholdsStyle", {}).get("mode", "off") not in ("off", None):
            for step in defaults.get("thresholds", {}).get("steps", [])[1:]:
                value = step.get("value")
                if value is not None and low <= float(value) <= high:
                    axes.axhline(float(value), color=color(step["color"]), linestyle=(0, (4, 3)), linewidth=1)
        axes.set_ylim(low, high)
        y_ticks = [v for v in ticker.MaxNLocator(nbins=4).tick_values(low, high) if low <= v <= high]
        y_labels = [format_value(v, unit, decimals) for v in y_ticks]
        axes.set_yticks(y_ticks, y_labels)
        x_ticks, x_labels = time_ticks(start, end, width, tz)
        axes.set_xticks(x_ticks, x_labels)
        left = max((len(label) for label in y_labels), default=1) * _CHAR + 8
        wide, high_pt = width * 0.72, height * 0.72  # the figure in points
        figure.subplots_adjust(
            left=left / wide, right=1 - _RIGHT / wide, top=1 - _TOP / high_pt, bottom=_BOTTOM / high_pt
        )
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", transparent=True, metadata={"Date": None, "Creator": None})
    return _clean_svg(buffer.getvalue()), rows


def chart_height(panel: dict[str, Any]) -> int:
    """Pixels for the plot of a panel ``h`` grid units high (title and legend take the rest)."""
    return max(150, int(panel.get("gridPos", {}).get("h", 8)) * GRID_UNIT_HEIGHT - 70)
