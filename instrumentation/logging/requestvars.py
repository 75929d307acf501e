"""The request context every log line of a request carries, held in a context variable.

Kept apart from :mod:`instrumentation.logging.context` (which writes the access line) so the
pipeline can read it without importing the request side.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from instrumentation import tracing

__all__ = ["RequestContext", "add_request_fields", "current", "current_ids"]


class RequestContext:
    """What every line logged during one request carries."""

    __slots__ = ("_flat", "method", "path", "query", "request_id", "span_id", "trace_id")

    def __init__(
        self, request_id: str, method: str, path: str, query: str, ids: tuple[str, str] | None
    ) -> None:
        self.request_id = request_id
        self.method = method
        self.path = path
        self.query = query
        self.trace_id = ids[0] if ids else None
        self.span_id = ids[1] if ids else None
        self._flat: dict[str, Any] | None = None

    @property
    def flat(self) -> dict[str, Any]:
        """The fields as flat ECS keys (built when a line other than the access line needs them)."""
        flat = self._flat
        if flat is None:
            flat = {
                "http.request.id": self.request_id,
                "http.request.method": self.method,
                "url.path": self.path,
            }
            if self.trace_id is not None:
                flat["trace.id"] = self.trace_id
                flat["span.id"] = self.span_id
                flat["transaction.id"] = self.span_id
            self._flat = flat
        return flat


current: ContextVar[RequestContext | None] = ContextVar("fleetobs_request", default=None)


def current_ids() -> tuple[str, str] | None:
    try:
        return tracing.current_ids()
    except Exception:  # noqa: BLE001 - tracing trouble must not cost a log line
        return None


def add_request_fields(flat: dict[str, Any]) -> None:
    """Add the request context and the active span's ids to a flat event."""
    ctx = current.get()
    if ctx is not None:
        flat.update(ctx.flat)
    ids = current_ids()
    if ids is not None:
        flat["trace.id"] = ids[0]
        flat["span.id"] = ids[1]
