"""Expand a dashboard query's template variables the way Grafana does before it asks Prometheus.

Grafana substitutes ``$name``, ``${name}``, ``${name:format}`` and ``[[name]]`` in a Prometheus
target before sending it. How a value is written depends on the variable:

* a variable that is neither multi-value nor has *All*: the value as is (backslashes and single
  quotes escaped);
* a multi-value or *All* variable: each value regex-escaped (``.`` becomes ``\\\\.`` inside the
  PromQL string), one value alone, several as ``(a|b)``;
* *All* selected: the variable's custom ``allValue`` verbatim when it has one, otherwise every
  value the variable lists, as above;
* custom variables: their current (default) value; constants and text boxes: their query.

The built-in intervals follow Grafana's Prometheus datasource: ``$__interval`` is the range
divided by the points of a panel, never below the scrape interval; ``$__rate_interval`` is
``max($__interval + scrape interval, 4 x scrape interval)``; ``$__range`` is the range in seconds
(``3600s``), ``$__range_s`` and ``$__range_ms`` its number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]
#: Points Grafana asks for in a typical panel (its width in pixels); sets ``$__interval``.
PANEL_POINTS = 1000
_REFERENCE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)|\[\[(\w+)\]\]")
_REGEX_SPECIAL = re.compile(r"[$^*{}\[\]'+?.()|]")
#: Resolves *All* of a variable without ``allValue``: the values its query lists.
AllValues = Callable[[Json, Mapping[str, str]], list[str]]


@dataclass(frozen=True)
class TimeRange:
    """The dashboard's time range and the datasource's scrape interval, in seconds."""

    seconds: float = 3600.0
    scrape_interval: float = 15.0

    @property
    def interval(self) -> float:
        return max(self.scrape_interval, _round_interval(self.seconds / PANEL_POINTS))

    @property
    def rate_interval(self) -> float:
        return max(self.interval + self.scrape_interval, 4 * self.scrape_interval)

    def builtins(self) -> dict[str, str]:
        return {
            "__interval": _duration(self.interval),
            "__interval_ms": str(int(self.interval * 1000)),
            "__rate_interval": _duration(self.rate_interval),
            "__range": _duration(self.seconds),
            "__range_s": str(int(self.seconds)),
            "__range_ms": str(int(self.seconds * 1000)),
        }


def _round_interval(seconds: float) -> float:
    """Grafana rounds the computed interval to a friendly value; whole seconds are close enough."""
    return float(max(1, math.ceil(seconds)))


def _duration(seconds: float) -> str:
    return f"{math.ceil(seconds)}s"


def regex_escape(value: str) -> str:
    """Grafana's escaping of one value of a multi-value variable for a PromQL regex matcher."""
    return _REGEX_SPECIAL.sub(lambda m: "\\\\" + m.group(), value.replace("\\", "\\\\\\\\"))


def plain_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def variables(dashboard: Json) -> list[Json]:
    return list(dashboard.get("templating", {}).get("list", []))


def panels(dashboard: Json) -> Iterator[Json]:
    """Every panel, rows' nested panels included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def prometheus_targets(dashboard: Json) -> Iterator[tuple[Json, Json]]:
    """(panel, target) for every target with a PromQL ``expr``."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            if "expr" in target and target.get("datasource", {}).get("type", "prometheus") == "prometheus":
                yield panel, target


def _format(var: Json, values: Sequence[str], fmt: str | None) -> str:
    if fmt == "raw":
        return ",".join(values)
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "regex" or var.get("multi") or var.get("includeAll"):
        escaped = [regex_escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"
    return plain_escape(values[0]) if values else ""


def _current(var: Json) -> list[str]:
    value = var.get("current", {}).get("value", var.get("query", ""))
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@dataclass(frozen=True)
class Expander:
    """Substitutes one dashboard's variables for a selection (unselected query variables: *All*)."""

    dashboard: Json
    time_range: TimeRange
    #: Variable name -> the values selected (as a user picking them would).
    selected: Mapping[str, Sequence[str]]
    all_values: AllValues | None = None

    def values(self) -> dict[str, str]:
        out = self.time_range.builtins()
        for var in variables(self.dashboard):
            name, kind = var.get("name", ""), var.get("type")
            if kind == "datasource":
                continue
            if name in self.selected:
                out[name] = _format(var, list(self.selected[name]), None)
            elif kind == "query" and var.get("includeAll"):
                if var.get("allValue"):
                    out[name] = str(var["allValue"])
                elif self.all_values is not None:
                    out[name] = _format(var, self.all_values(var, out) or [""], None)
            elif kind in ("custom", "interval", "query"):
                out[name] = _format(var, _current(var), None)
            elif kind in ("constant", "textbox"):
                out[name] = str(var.get("query", ""))
        return out

    def expand(self, expr: str, values: Mapping[str, str] | None = None) -> str:
        """``expr`` with every known variable substituted; unknown ones are left for Prometheus to refuse."""
        known = values if values is not None else self.values()

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(3) or match.group(4)
            if name not in known:
                return match.group(0)
            fmt = match.group(2)
            if fmt and fmt not in ("regex",):
                var = next((v for v in variables(self.dashboard) if v.get("name") == name), {})
                return _format(var, known[name].strip("()").split("|"), fmt)
            return known[name]

        return _REFERENCE.sub(substitute, expr)
