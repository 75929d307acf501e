"""Why a target returned no data: each selector of its expression asked of Prometheus in turn.

The first selector that explains the emptiness wins, checked in this order::

    absent        Prometheus has never stored the metric (not emitted, or not scraped)
    not in range  the metric exists, but has no series at all in the panel's range
    no match      the metric has series in the range, but none matching the selector; the
                  matcher that excludes them all is named (a label no series carries, or a
                  value none has), as pint's series check does for rules
    empty result  every selector has series in the range; the expression still returns
                  nothing (no increase over the range, a filter, operands that do not match)

A query Prometheus refuses is reported with Prometheus's own message instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboards.expand import duration
from dashboards.snapshot.prometheus import Prometheus, QueryError
from dashboards.snapshot.promql import Selector, selectors

ABSENT = "absent"
NOT_IN_RANGE = "not in range"
NO_MATCH = "no match"
EMPTY_RESULT = "empty result"
REJECTED = "rejected"


@dataclass(frozen=True)
class Reason:
    kind: str
    detail: str

    def __str__(self) -> str:
        return self.detail


def _has_series(prometheus: Prometheus, selector: str, start: float, end: float) -> bool:
    return bool(prometheus.series(selector, start, end))


def _explain_selector(prometheus: Prometheus, sel: Selector, start: float, end: float) -> Reason | None:
    start, end = start - sel.offset, end - sel.offset
    if sel.metric not in prometheus.metric_names:
        return Reason(ABSENT, f"metric {sel.metric} is absent: this Prometheus has never stored it")
    if not _has_series(prometheus, f"{sel.metric}{{}}", start, end):
        shifted = f" shifted back by its offset of {duration(sel.offset)}" if sel.offset else ""
        return Reason(NOT_IN_RANGE, f"metric {sel.metric} has no series in the range{shifted}")
    if _has_series(prometheus, sel.text(), start, end):
        return None
    for matcher in sel.matchers:
        if _has_series(prometheus, f"{sel.metric}{{{matcher}}}", start, end):
            continue
        if not _has_series(prometheus, f'{sel.metric}{{{matcher.label}!=""}}', start, end):
            return Reason(NO_MATCH, f"no series of {sel.metric} has the label {matcher.label} ({matcher})")
        return Reason(NO_MATCH, f"no series of {sel.metric} in the range matches {matcher}")
    return Reason(NO_MATCH, f"no series of {sel.metric} in the range matches {sel.text()}")


def explain(prometheus: Prometheus, expr: str, start: float, end: float) -> Reason:
    """Why ``expr`` (variables expanded) has no data between ``start`` and ``end``."""
    try:
        found = selectors(expr)
    except ValueError:
        found = []
    for sel in found:
        try:
            reason = _explain_selector(prometheus, sel, start, end)
        except QueryError as exc:
            return Reason(REJECTED, f"Prometheus refused to list {sel.text()}: {exc}")
        if reason is not None:
            return reason
    return Reason(
        EMPTY_RESULT,
        "every metric it reads has matching series in the range, but the expression returns "
        "nothing (no change over the range, a filter, or sides that do not match)",
    )
