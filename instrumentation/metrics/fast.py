"""Histogram observations without prometheus_client's per-call checks.

``Histogram.observe`` checks that it is called on a label child, validates the exemplar's
labels on every call and walks the buckets in Python. On the request path we hold label
children we built ourselves and our exemplar (a 32-character trace id) is valid by
construction, so :class:`FastHistogram` writes the same value objects directly: the sum, one
bucket found by bisection, and the exemplar of that bucket (in memory only; in multiprocess
mode exemplars go through :mod:`instrumentation.metrics.exemplars`).

It relies on the child's ``_sum``, ``_buckets`` and ``_upper_bounds``. :func:`wrap` checks them
when a child is first wrapped and falls back to the public ``observe`` if a prometheus_client
release lays its histogram out differently, so an upgrade can cost speed, never correctness.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from typing import Any

from prometheus_client.samples import Exemplar

__all__ = ["FastHistogram", "wrap"]


class FastHistogram:
    """One histogram child: ``observe(amount)`` and ``observe_with_trace(amount, trace_id)``."""

    __slots__ = ("_bounds", "_buckets", "_count", "_sum")

    def __init__(self, child: Any) -> None:
        self._sum = child._sum
        self._buckets = tuple(child._buckets)
        self._bounds = tuple(child._upper_bounds)
        self._count = len(self._buckets)

    def observe(self, amount: float) -> None:
        index = bisect_left(self._bounds, amount)
        if index < self._count:  # NaN falls in no bucket, as with prometheus_client
            self._sum.inc(amount)
            self._buckets[index].inc(1)

    def observe_with_trace(self, amount: float, trace_id: str) -> None:
        index = bisect_left(self._bounds, amount)
        if index < self._count:
            self._sum.inc(amount)
            bucket = self._buckets[index]
            bucket.inc(1)
            bucket.set_exemplar(Exemplar({"trace_id": trace_id}, amount, time.time()))


class _PublicHistogram:
    """The fallback: prometheus_client's own ``observe``."""

    __slots__ = ("_child",)

    def __init__(self, child: Any) -> None:
        self._child = child

    def observe(self, amount: float) -> None:
        self._child.observe(amount)

    def observe_with_trace(self, amount: float, trace_id: str) -> None:
        self._child.observe(amount, {"trace_id": trace_id})


def _compatible(child: Any) -> bool:
    try:
        bounds = tuple(child._upper_bounds)
        buckets = child._buckets
        return (
            len(bounds) == len(buckets) > 0
            and bounds[-1] == float("inf")
            and list(bounds) == sorted(bounds)
            and all(hasattr(value, "inc") and hasattr(value, "set_exemplar") for value in buckets)
            and hasattr(child._sum, "inc")
        )
    except (AttributeError, TypeError):
        return False


def wrap(child: Any) -> FastHistogram | _PublicHistogram:
    """The fastest correct way to observe into the histogram label child ``child``."""
    return FastHistogram(child) if _compatible(child) else _PublicHistogram(child)
