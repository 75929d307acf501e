"""Values written in Grafana's units, and threshold colours.

:func:`format_value` knows the unit ids the dashboards use (``s``, ``reqps``, ``ops``,
``percentunit``, ``percent``, ``bytes``, ``short``, ``none``, ``string``) and scales as Grafana
does: seconds down to ms/µs/ns and up to min/hour/day, bytes in binary multiples (KiB, MiB),
``short`` with K, Mil, Bil, Tri. Without explicit ``decimals`` a value keeps about three
significant digits. :func:`threshold_color` picks a value's step as Grafana does: the last step
whose value it reaches (the base step, ``null``, is minus infinity). :data:`COLORS` maps
Grafana's named colours to the shades its dark and light themes both show well.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

#: Grafana's named colours (the "semi-dark" shades its palettes use).
COLORS = {
    "green": "#73bf69",
    "dark-green": "#37872d",
    "semi-dark-green": "#56a64b",
    "orange": "#ff9830",
    "dark-orange": "#fa6400",
    "red": "#f2495c",
    "dark-red": "#c4162a",
    "semi-dark-red": "#e02f44",
    "yellow": "#fade2a",
    "dark-yellow": "#e0b400",
    "blue": "#5794f2",
    "dark-blue": "#1f60c4",
    "purple": "#b877d9",
    "text": "currentColor",
}
#: Series colours in order, Grafana's classic palette.
PALETTE = (
    "#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0",
    "#508642", "#cca300", "#447ebc", "#c15c17", "#890f02", "#0a437c", "#6d1f62", "#584477",
)  # fmt: skip

_SHORT = ("", " K", " Mil", " Bil", " Tri", " Quadr")
_BYTES = (" B", " KiB", " MiB", " GiB", " TiB", " PiB")
_TIME_UP = ((86400 * 365, " year"), (86400 * 7, " week"), (86400, " day"), (3600, " hour"), (60, " min"))


def color(name: str) -> str:
    """A Grafana colour name (or any CSS colour) as CSS."""
    return COLORS.get(name, name)


def _fixed(value: float, decimals: int | None) -> str:
    if decimals is None:
        if value == 0 or not math.isfinite(value):
            decimals = 0
        else:
            decimals = max(0, min(6, 2 - math.floor(math.log10(abs(value)))))
        text = f"{value:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return f"{value:.{decimals}f}"


def _scaled(value: float, base: float, suffixes: Sequence[str], decimals: int | None) -> str:
    index = 0
    while abs(value) >= base and index < len(suffixes) - 1:
        value /= base
        index += 1
    return _fixed(value, decimals) + suffixes[index]


def _seconds(value: float, decimals: int | None) -> str:
    size = abs(value)
    if size == 0:
        return "0 s"
    if size < 1e-6:
        return _fixed(value * 1e9, decimals) + " ns"
    if size < 1e-3:
        return _fixed(value * 1e6, decimals) + " µs"
    if size < 1:
        return _fixed(value * 1e3, decimals) + " ms"
    for limit, suffix in _TIME_UP:
        if size >= limit:
            return _fixed(value / limit, decimals) + suffix
    return _fixed(value, decimals) + " s"


def format_value(value: Any, unit: str | None, decimals: int | None = None) -> str:
    """``value`` as Grafana shows it in ``unit``."""
    if value is None:
        return "-"
    if unit == "string" or (isinstance(value, str) and not _is_number(value)):
        return str(value)
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if unit == "percentunit":
        return _fixed(number * 100, decimals) + "%"
    if unit == "percent":
        return _fixed(number, decimals) + "%"
    if unit == "s":
        return _seconds(number, decimals)
    if unit == "ms":
        return _seconds(number / 1000, decimals)
    if unit == "bytes":
        return _scaled(number, 1024, _BYTES, decimals)
    if unit == "reqps":
        return _scaled(number, 1000, _SHORT, decimals) + " req/s"
    if unit == "ops":
        return _scaled(number, 1000, _SHORT, decimals) + " ops/s"
    if unit == "none":
        return _fixed(number, decimals)
    return _scaled(number, 1000, _SHORT, decimals)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def threshold_color(value: Any, steps: Sequence[Mapping[str, Any]] | None) -> str | None:
    """The CSS colour of the threshold step ``value`` falls in (``None`` without steps)."""
    if not steps:
        return None
    chosen = steps[0].get("color", "text")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return color(str(chosen))
    for step in steps[1:]:
        if step.get("value") is not None and number >= float(step["value"]):
            chosen = step["color"]
    return color(str(chosen))
