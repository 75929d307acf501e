"""Expand a dashboard's template variables and built-in intervals as Grafana does before a query.

Grafana interpolates ``$name``, ``${name}``, ``${name:format}`` and ``[[name]]`` in a target
before sending it to the datasource. What a variable becomes depends on the variable and on the
datasource:

* *All* selected on a variable with a custom ``allValue``: that value verbatim, in every format
  (ours: ``.+`` for ``job`` and ``instance``, ``.*`` for ``environment``);
* *All* without ``allValue``: every value the variable lists, as if each were selected;
* a Prometheus target, a variable that is multi-value or has *All*: each value regex-escaped
  for a PromQL string (``.`` becomes ``\\\\.``), one value alone, several as ``(a|b)``;
* a Prometheus target, any other variable: the value with ``\\`` and ``'`` escaped;
* ``${name:regex}`` (our Elasticsearch queries): regex-escaped once, ``(a|b)`` for several;
  ``:pipe``, ``:csv`` and ``:raw`` join or pass the values as they are.

The built-in intervals follow Grafana's Prometheus datasource (:class:`Interval`): a panel asks
for one point per pixel of its width (``maxDataPoints``), so ``$__interval`` is the range divided
by that width, rounded to a "nice" duration and never below the datasource's scrape interval
(its *min interval*); it is also the range query's step. ``$__rate_interval`` is
``max($__interval + scrape interval, 4 x scrape interval)``; ``$__range`` is the range in whole
seconds (``3600s``), ``$__range_s`` and ``$__range_ms`` its number; ``$__from`` and ``$__to``
are epoch milliseconds.

:func:`selections` turns a dashboard's variables and the user's choices (``name=value``) into a
:class:`Selection` per variable; :func:`interpolate` writes them into a query. Listing the
values of query variables needs a Prometheus and is the caller's (``lister``), so this module
makes no request itself.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]
ALL = "$__all"
#: Grafana's scrape interval for a Prometheus datasource that sets none.
DEFAULT_SCRAPE_INTERVAL = 15.0
#: Grafana never asks Prometheus for more than this many points per series.
MAX_POINTS = 11_000
_REFERENCE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(\w+)")
_PROMQL_REGEX_SPECIAL = re.compile(r"[$^*{}\[\]'+?.()|]")
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|{}\[\]/]")
#: "Nice" durations Grafana rounds an interval to, in seconds; a value rounds to the nearest,
#: the boundary lying halfway between two neighbours.
_NICE = (
    0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200,
    1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800, 2592000, 31536000,
)  # fmt: skip
_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))

#: Lists a query variable's values: (variable JSON, its query already expanded) -> values.
Lister = Callable[[Json, str], list[str]]


class VariableError(ValueError):
    """A ``name=value`` choice that the dashboard cannot take."""


def round_interval(seconds: float) -> float:
    """``seconds`` rounded to the nearest nice duration (10ms ... 1y)."""
    for low, high in itertools.pairwise(_NICE):
        if seconds < (low + high) / 2:
            return low
    return _NICE[-1]


def duration(seconds: float) -> str:
    """A PromQL duration for ``seconds``: the largest unit that divides it exactly (``90s``, ``2m``)."""
    if seconds < 1 or seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    for unit, size in _UNITS:
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"  # pragma: no cover - "s" always divides


@dataclass(frozen=True)
class Interval:
    """A panel's time range and step, as Grafana's Prometheus datasource computes them.

    ``start`` and ``end`` are epoch seconds; ``width`` is the panel's width in pixels (its
    ``maxDataPoints``); ``scrape_interval`` the datasource's, in seconds.
    """

    start: float
    end: float
    width: int
    scrape_interval: float = DEFAULT_SCRAPE_INTERVAL

    @property
    def range_seconds(self) -> float:
        return self.end - self.start

    @property
    def step(self) -> float:
        """``$__interval``: range / width, rounded, at least the scrape interval and range / 11000."""
        raw = round_interval(self.range_seconds / max(1, self.width))
        return max(raw, self.scrape_interval, math.ceil(self.range_seconds / MAX_POINTS))

    @property
    def rate_interval(self) -> float:
        return max(self.step + self.scrape_interval, 4 * self.scrape_interval)

    def aligned(self) -> tuple[float, float]:
        """Start and end of a range query, both floored to a multiple of the step (as Grafana does)."""
        step = self.step
        return math.floor(self.start / step) * step, math.floor(self.end / step) * step

    def builtins(self) -> dict[str, str]:
        range_s = round(self.range_seconds)
        return {
            "__interval": duration(self.step),
            "__interval_ms": str(round(self.step * 1000)),
            "__rate_interval": duration(self.rate_interval),
            "__range": f"{range_s}s",
            "__range_s": str(range_s),
            "__range_ms": str(round(self.range_seconds * 1000)),
            "__from": str(round(self.start * 1000)),
            "__to": str(round(self.end * 1000)),
        }


@dataclass(frozen=True)
class Selection:
    """What a variable stands for: its values, or *All*."""

    name: str
    values: tuple[str, ...]
    all: bool = False
    all_value: str | None = None
    #: Multi-value or with *All*: Prometheus gets its values regex-escaped.
    regex_escaped: bool = False
    #: The values the variable lists (query and custom variables), when known.
    options: tuple[str, ...] | None = None
    label: str = ""

    @property
    def text(self) -> str:
        """How the dashboard header shows it."""
        if self.all:
            listed = f" ({', '.join(self.options)})" if self.options else ""
            return f"All{listed}"
        return ", ".join(self.values)


@dataclass
class Expander:
    """Writes a dashboard's selections and an interval's built-ins into query text."""

    selections: Mapping[str, Selection]
    builtins: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, text: str, datasource: str = "prometheus") -> str:
        return interpolate(text, self.selections, self.builtins, datasource)


def _promql_regex_escape(value: str) -> str:
    return _PROMQL_REGEX_SPECIAL.sub(lambda m: "\\\\" + m.group(), value.replace("\\", "\\\\\\\\"))


def _regex_escape(value: str) -> str:
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(), value)


def _join(values: Sequence[str]) -> str:
    return values[0] if len(values) == 1 else "(" + "|".join(values) + ")"


def format_selection(selection: Selection, fmt: str | None, datasource: str = "prometheus") -> str:
    """The text Grafana writes for ``selection`` in format ``fmt`` (``None``: the datasource's)."""
    if selection.all and selection.all_value is not None and fmt not in ("text", "queryparam"):
        return selection.all_value
    values = list(selection.values)
    if fmt == "text":
        return selection.text
    if fmt == "raw":
        return ",".join(values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "regex":
        return _join([_regex_escape(v) for v in values]) if values else ""
    if fmt not in (None, ""):
        raise VariableError(f"unsupported variable format {fmt!r} in ${{{selection.name}:{fmt}}}")
    if datasource == "prometheus":
        if not selection.regex_escaped:
            return ",".join(v.replace("\\", "\\\\").replace("'", "\\'") for v in values)
        return _join([_promql_regex_escape(v) for v in values]) if values else ""
    # Elasticsearch's default (lucene) for one value is the value; several are an OR group.
    if len(values) == 1:
        return values[0]
    return "(" + " OR ".join(f'"{v}"' for v in values) + ")"


def interpolate(
    text: str,
    selections: Mapping[str, Selection],
    builtins: Mapping[str, str] | None = None,
    datasource: str = "prometheus",
) -> str:
    """``text`` with every variable reference replaced; unknown names are left as written."""
    known = builtins or {}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3) or match.group(4)
        fmt = match.group(2)
        if name in selections:
            return format_selection(selections[name], fmt, datasource)
        if name in known:
            return known[name]
        return match.group(0)

    return _REFERENCE.sub(substitute, text)


def _custom_options(variable: Json) -> tuple[str, ...]:
    return tuple(part.strip() for part in str(variable.get("query", "")).split(",") if part.strip())


def _current(variable: Json) -> list[str]:
    value = variable.get("current", {}).get("value", [])
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def parse_choices(pairs: Sequence[str]) -> dict[str, list[str]]:
    """``["job=shop", "instance=a", "instance=b"]`` -> ``{"job": ["shop"], "instance": ["a", "b"]}``."""
    choices: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip().lstrip("$")
        if not sep or not name:
            raise VariableError(f"expected name=value, got {pair!r}")
        choices.setdefault(name, []).append(value)
    return choices


def selections(
    dashboard: Json,
    choices: Mapping[str, Sequence[str]] | None = None,
    lister: Lister | None = None,
    builtins: Mapping[str, str] | None = None,
    *,
    strict: bool = True,
) -> dict[str, Selection]:
    """A :class:`Selection` for every variable of ``dashboard``, in dependency order.

    ``choices`` are the user's ``name -> values`` (``All`` or ``$__all`` selects *All*); other
    variables keep the dashboard's current value. Query variables are listed with ``lister``
    (their query expanded with the variables before them), so the header can show what *All*
    stands for. With ``strict``, a choice naming a variable the dashboard does not have, or a
    value a fixed-choice variable does not offer, raises :class:`VariableError`.
    """
    choices = dict(choices or {})
    variables = dashboard.get("templating", {}).get("list", [])
    names = {v.get("name") for v in variables}
    unknown = sorted(set(choices) - names)
    if strict and unknown:
        raise VariableError(
            f"dashboard {dashboard.get('uid')!r} has no variable {', '.join(unknown)} "
            f"(it has: {', '.join(sorted(str(n) for n in names))})"
        )
    found: dict[str, Selection] = {}
    for variable in variables:
        name = str(variable["name"])
        kind = variable.get("type")
        chosen = choices.get(name)
        values = list(chosen) if chosen is not None else _current(variable)
        is_all = any(v in (ALL, "All") for v in values)
        options: tuple[str, ...] | None = None
        if kind == "custom":
            options = _custom_options(variable)
            bad = [v for v in values if v not in options and v not in (ALL, "All")]
            if strict and bad:
                raise VariableError(f"${name} takes one of {list(options)}, not {bad[0]!r}")
        elif (
            kind == "query"
            and lister is not None
            and variable.get("datasource", {}).get("type")
            in (
                "prometheus",
                None,
            )
        ):
            query = interpolate(str(variable.get("query", "")), found, builtins)
            options = tuple(lister(variable, query))
        elif kind == "datasource":
            values = [str(variable.get("current", {}).get("value", ""))]
        regex_escaped = bool(variable.get("multi") or variable.get("includeAll"))
        if is_all:
            all_value = variable.get("allValue") or None
            listed = list(options or ())
            found[name] = Selection(
                name, tuple(listed), True, all_value, regex_escaped, options, variable.get("label", "")
            )
        else:
            found[name] = Selection(
                name, tuple(values), False, None, regex_escaped, options, variable.get("label", "")
            )
    return found
