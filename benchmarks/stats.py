"""Small statistics for repeated measurements: median, quartiles, range."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def summary(values: Sequence[float], digits: int = 1) -> dict[str, float]:
    """Median, quartiles (inclusive method), min and max of ``values``."""
    if not values:
        return {}
    ordered = sorted(values)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {
        "median": round(statistics.median(ordered), digits),
        "p25": round(q1, digits),
        "p75": round(q3, digits),
        "min": round(ordered[0], digits),
        "max": round(ordered[-1], digits),
        "n": len(ordered),
    }


def paired_differences(values: Sequence[float], baseline: Sequence[float]) -> list[float]:
    """Round-by-round differences: each round of a configuration minus the same round of the baseline."""
    return [value - base for value, base in zip(values, baseline, strict=False)]


def ratio(numerator: float | None, denominator: float | None, digits: int = 3) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)
