"""Histogram observations and gauge moves without prometheus_client's per-call overhead.

``Histogram.observe`` checks that it is called on a label child, validates the exemplar's
labels on every call, walks the buckets in Python and takes one lock per value it touches. On
the request path we hold label children we built ourselves and our exemplar (a 32-character
trace id) is valid by construction, so :class:`FastHistogram` writes the same value objects
directly: the sum and one bucket found by bisection, and the exemplar of that bucket (in
memory only; in multiprocess mode exemplars go through :mod:`instrumentation.metrics.exemplars`).

With in-memory values (``MutexValue``) one lock, the sum's, covers the sum and the bucket: only
these wrappers write the request metrics' children, so they all agree on it, and a scrape reads
each value under its own lock as before (it may see the sum one observation ahead of the
bucket, as it may with prometheus_client's own two locks). Multiprocess values (mmap files)
are written through their own ``inc``, which takes their file lock.

It relies on the child's ``_sum``, ``_buckets``, ``_upper_bounds`` and, for in-memory values,
``MutexValue``'s ``_value`` and ``_lock``. :func:`wrap` checks them when a child is first
wrapped and falls back to the public ``observe`` if a prometheus_client release lays its
histogram out differently, so an upgrade can cost speed, never correctness.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from typing import Any

from prometheus_client.samples import Exemplar
from prometheus_client.values import MutexValue

__all__ = ["FastGauge", "FastHistogram", "wrap", "wrap_gauge"]


class FastHistogram:
    """One histogram child: ``observe(amount)`` and ``observe_with_trace(amount, trace_id)``."""

    __slots__ = ("_bounds", "_buckets", "_count", "_lock", "_sum")

    def __init__(self, child: Any) -> None:
        self._sum = child._sum
        self._buckets = tuple(child._buckets)
        self._bounds = tuple(child._upper_bounds)
        self._count = len(self._buckets)
        in_memory = all(type(value) is MutexValue for value in (self._sum, *self._buckets))
        self._lock = self._sum._lock if in_memory else None

    def observe(self, amount: float) -> None:
        if amount != amount:  # noqa: PLR0124 - NaN is counted nowhere (it would poison the sum)
            return
        index = bisect_left(self._bounds, amount)
        if index < self._count:
            lock = self._lock
            if lock is not None:
                with lock:
                    self._sum._value += amount
                    self._buckets[index]._value += 1
            else:
                self._sum.inc(amount)
                self._buckets[index].inc(1)

    def observe_with_trace(self, amount: float, trace_id: str) -> None:
        if amount != amount:  # noqa: PLR0124 - NaN
            return
        index = bisect_left(self._bounds, amount)
        if index < self._count:
            bucket = self._buckets[index]
            exemplar = Exemplar({"trace_id": trace_id}, amount, time.time())
            lock = self._lock
            if lock is not None:
                with lock:
                    self._sum._value += amount
                    bucket._value += 1
                    bucket._exemplar = exemplar
            else:
                self._sum.inc(amount)
                bucket.inc(1)
                bucket.set_exemplar(exemplar)


class FastGauge:
    """A gauge without labels: ``inc()`` and ``dec()`` by one."""

    __slots__ = ("_gauge", "_lock", "_value")

    def __init__(self, gauge: Any) -> None:
        self._gauge = gauge
        self._value = gauge._value
        self._lock = self._value._lock if type(self._value) is MutexValue else None

    def inc(self) -> None:
        lock = self._lock
        if lock is not None:
            with lock:
                self._value._value += 1
        else:
            self._gauge.inc()

    def dec(self) -> None:
        lock = self._lock
        if lock is not None:
            with lock:
                self._value._value -= 1
        else:
            self._gauge.dec()


class _PublicHistogram:
    """The fallback: prometheus_client's own ``observe``."""

    __slots__ = ("_child",)

    def __init__(self, child: Any) -> None:
        self._child = child

    def observe(self, amount: float) -> None:
        self._child.observe(amount)

    def observe_with_trace(self, amount: float, trace_id: str) -> None:
        self._child.observe(amount, {"trace_id": trace_id})


def _compatible_value(value: Any) -> bool:
    if type(value) is MutexValue:
        return all(hasattr(value, name) for name in ("_value", "_lock", "_exemplar"))
    return hasattr(value, "inc") and hasattr(value, "set_exemplar")


def _compatible(child: Any) -> bool:
    try:
        bounds = tuple(child._upper_bounds)
        buckets = child._buckets
        return (
            len(bounds) == len(buckets) > 0
            and bounds[-1] == float("inf")
            and list(bounds) == sorted(bounds)
            and all(_compatible_value(value) for value in (child._sum, *buckets))
        )
    except (AttributeError, TypeError):
        return False


def wrap(child: Any) -> FastHistogram | _PublicHistogram:
    """The fastest correct way to observe into the histogram label child ``child``."""
    return FastHistogram(child) if _compatible(child) else _PublicHistogram(child)


def wrap_gauge(gauge: Any) -> Any:
    """``gauge`` (without labels) with the fastest correct ``inc()`` / ``dec()``."""
    value = getattr(gauge, "_value", None)
    if value is not None and _compatible_value(value):
        return FastGauge(gauge)
    return gauge
