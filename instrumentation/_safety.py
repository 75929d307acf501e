"""The error boundary: telemetry failures are logged once and never reach the application.

Tests turn :data:`RAISE_INTERNAL_ERRORS` on (see ``instrumentation.testing``) so a bug in the
instrumentation fails the test instead of hiding behind the boundary.
"""

from __future__ import annotations

import logging

RAISE_INTERNAL_ERRORS = False
_reported: set[str] = set()
logger = logging.getLogger("fleetobs.internal")


def internal_error(exc: BaseException, where: str) -> None:
    """Handle an exception raised inside the instrumentation at ``where``."""
    if RAISE_INTERNAL_ERRORS:
        raise exc
    key = f"{where}:{type(exc).__name__}"
    if key not in _reported:
        _reported.add(key)
        logger.warning("fleetobs internal error in %s (reported once)", where, exc_info=exc)


def reset() -> None:
    _reported.clear()
