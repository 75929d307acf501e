"""Helpers for tests, ours and our users'.

``get_sample_value(name, labels)`` reads one value from what ``/metrics`` would render;
``reset_all()`` forgets every global the instrumentation holds; ``raise_internal_errors()``
makes failures inside the instrumentation raise instead of being logged once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from instrumentation import (  # noqa: F401 - imported so that their resets are registered
    _safety,
    cache,
    channels,
    conf,
    db,
    lifecycle,
    middleware,
    pending_migrations,
    routes,
    tracing,
)
from instrumentation import logging as fleet_logging  # noqa: F401
from instrumentation.metrics import exemplars, http, runtime  # noqa: F401
from instrumentation.metrics import registry as metrics_registry


def get_sample_value(name: str, labels: dict[str, str] | None = None) -> float | None:
    """The current value of series ``name`` with exactly ``labels``, or ``None`` if absent."""
    value: float | None = metrics_registry.collector_registry().get_sample_value(name, labels or {})
    return value


def reset_all() -> None:
    """Forget every global: settings, logging pipeline, metric objects, caches, reported errors.

    Every module holding state registers its reset with :mod:`instrumentation.lifecycle`; the
    modules imported above are those a request, a task or a test can put state into.
    """
    lifecycle.reset_all()


@contextlib.contextmanager
def raise_internal_errors() -> Iterator[None]:
    previous = _safety.RAISE_INTERNAL_ERRORS
    _safety.RAISE_INTERNAL_ERRORS = True
    try:
        yield
    finally:
        _safety.RAISE_INTERNAL_ERRORS = previous
