"""The error boundary: telemetry failures are logged once and never reach the application.

Tests turn :data:`RAISE_INTERNAL_ERRORS` on (see ``instrumentation.testing``) so a bug in the
instrumentation fails the test instead of hiding behind the boundary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from instrumentation.lifecycle import on_reset

RAISE_INTERNAL_ERRORS = False
_reported: set[str] = set()
# Set by the metrics package (a layer above this one) to count each failure by place.
_counter: Callable[[str], None] | None = None
logger = logging.getLogger("fleetobs.internal")


def count_with(counter: Callable[[str], None]) -> None:
    """Count every internal error with ``counter(where)``; it must never raise."""
    global _counter
    _counter = counter


def internal_error(exc: BaseException, where: str) -> None:
    """Handle an exception raised inside the instrumentation at ``where``: counted, logged once."""
    if RAISE_INTERNAL_ERRORS:
        raise exc
    counter = _counter
    if counter is not None:
        counter(where)
    key = f"{where}:{type(exc).__name__}"
    if key not in _reported:
        _reported.add(key)
        logger.warning("fleetobs internal error in %s (reported once)", where, exc_info=exc)


@on_reset
def reset() -> None:
    _reported.clear()
