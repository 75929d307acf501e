"""Logging: one JSON pipeline (ECS field names) for structlog and the standard library.

Contract used by the middleware and :mod:`instrumentation.apps` (the logging package
implements it):

``configure()``                         install the pipeline (unless LOGGING_CONFIGURE is off).
``reset()``                             undo configure() and forget global state (tests).
``begin_request(request, request_id)``  bind the request's context for every logger; return a token.
``finish_request(token, request, info)``emit the access-log line and unbind the context.
``log_n_plus_one(route, statement, count)`` warning line for an N+1 detection.
``shutdown()``                          flush shippers (worker exit).
"""

from __future__ import annotations

from typing import Any

__all__ = ["begin_request", "configure", "finish_request", "log_n_plus_one", "reset", "shutdown"]


def configure() -> None:
    """Install the JSON pipeline (placeholder until the logging package lands)."""


def reset() -> None:
    """Undo :func:`configure`."""


def shutdown() -> None:
    """Flush shippers."""


def begin_request(request: Any, request_id: str) -> Any:
    return None


def finish_request(token: Any, request: Any, info: Any) -> None:
    return None


def log_n_plus_one(route: str, statement: str, count: int) -> None:
    return None
