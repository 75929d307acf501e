"""Tracing: OpenTelemetry server and child spans, exported over OTLP.

Contract used by the middleware, :mod:`instrumentation.db` and :mod:`instrumentation.cache`
(the tracing package implements it; everything here must be cheap when tracing is off):

``setup()``                         configure the tracer provider (idempotent; after fork).
``shutdown()``                      flush and stop the span processor (worker exit).
``reset()``                         forget all global state (tests).
``start_request(request)``          start and activate the SERVER span; return a handle or None.
``record_exception(handle, exc)``   note an unhandled exception on the server span.
``finish_request(handle, request, route, status, response)``
                                    name/attribute/end the span, set the trace id response header.
``sampled_trace_id(handle)``        hex trace id if the span is sampled, else None (exemplars).
``current_ids()``                   (trace_id, span_id) hex of the active span, or None (logs).
``start_span(name, attributes)``    start an active CLIENT child span; return a handle or None.
``end_span(handle, exc)``           end a child span started by start_span.
``add_event(name, attributes)``     add an event to the active span, if it is recording.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "add_event",
    "current_ids",
    "end_span",
    "finish_request",
    "record_exception",
    "reset",
    "sampled_trace_id",
    "setup",
    "shutdown",
    "start_request",
    "start_span",
]


def setup() -> None:
    """Configure tracing from the settings (placeholder until the tracing package lands)."""


def shutdown() -> None:
    """Flush pending spans."""


def reset() -> None:
    """Forget global tracing state."""


def start_request(request: Any) -> Any:
    return None


def record_exception(handle: Any, exc: BaseException) -> None:
    return None


def finish_request(handle: Any, request: Any, route: str, status: int, response: Any) -> None:
    return None


def sampled_trace_id(handle: Any) -> str | None:
    return None


def current_ids() -> tuple[str, str] | None:
    return None


def start_span(name: str, attributes: dict[str, Any]) -> Any:
    return None


def end_span(handle: Any, exc: BaseException | None = None) -> None:
    return None


def add_event(name: str, attributes: dict[str, Any]) -> None:
    return None
