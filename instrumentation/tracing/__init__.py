"""Tracing: OpenTelemetry server and child spans, exported over OTLP.

Contract used by the middleware, :mod:`instrumentation.db`, :mod:`instrumentation.cache`,
the logging pipeline and :mod:`instrumentation.celery` (everything here is cheap when tracing
is off or the request is not sampled, and never raises: failures go to the error boundary):

``setup()``                         configure the tracer provider (idempotent; cheap; no thread).
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
``force_flush(timeout)``            export what is queued now (tests, short-lived processes).

Modules: :mod:`~.provider` (settings -> state, whose tracer provider), :mod:`~.server` (the
request span), :mod:`~.children` (child spans, events, current ids), :mod:`~.spans` (the lean
span), :mod:`~.export` (bounded queue, export thread, exporters, counters), :mod:`~.otlp` (protobuf
encoding), :mod:`~.transport` (OTLP/HTTP with deadlines),
:mod:`~.propagation` (W3C headers), :mod:`~.sampling`, :mod:`~.resource`, :mod:`~.ids`,
:mod:`~.contrib` (outgoing HTTP, templates), :mod:`~.testing` (capture spans in tests).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind

from instrumentation._request import RequestInfo
from instrumentation._safety import internal_error
from instrumentation.tracing import children, contrib, provider, server
from instrumentation.tracing.spans import span_ids

__all__ = [
    "add_event",
    "current_ids",
    "end_span",
    "finish_request",
    "force_flush",
    "record_exception",
    "request_ids",
    "reset",
    "sampled_trace_id",
    "setup",
    "shutdown",
    "start_request",
    "start_span",
]


def setup() -> None:
    """Configure tracing from the settings (idempotent; nothing starts until the first span)."""
    try:
        provider.setup()
    except Exception as exc:  # noqa: BLE001 - the error boundary
        internal_error(exc, "tracing.setup")


def shutdown(timeout: float | None = None) -> None:
    """Flush pending spans and stop the export thread, for at most ``timeout`` seconds (by
    default the export timeout plus one second, never more than five)."""
    try:
        provider.shutdown(timeout)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "tracing.shutdown")


def force_flush(timeout: float = 10.0) -> bool:
    """Export everything queued now; ``False`` if ``timeout`` seconds were not enough."""
    try:
        return provider.force_flush(timeout)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "tracing.force_flush")
        return False


def reset() -> None:
    """Forget global tracing state and restore the OpenTelemetry globals we installed."""
    provider.reset()


def _state() -> provider.TracingState | None:
    return provider.ensure()


def start_request(request: Any, info: RequestInfo | None = None) -> Any:
    """Start the request's server span; ``info``: the request's facts, when the caller has them."""
    try:
        st = _state()
        if st is None:
            return None
        return server.start_request(st, request, info)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "tracing.start_request")
        return None


def record_exception(handle: Any, exc: BaseException) -> None:
    if handle is not None:
        server.record_exception(handle, exc)


def finish_request(handle: Any, request: Any, route: str, status: int, response: Any) -> None:
    if handle is None:
        return
    try:
        st = provider._state
        if st is not None:
            server.finish_request(st, handle, route, status, response)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "tracing.finish_request")


def sampled_trace_id(handle: Any) -> str | None:
    if handle is None:
        return None
    try:
        result: str | None = handle.trace_id_hex() if handle.sampled else None
        return result
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "tracing.sampled_trace_id")
        return None


def request_ids(handle: Any) -> tuple[str, str] | None:
    """``(trace id, span id)`` in hex of the request's server span (``handle``: ``start_request``'s)."""
    if handle is None:
        return None
    try:
        return span_ids(handle.span)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "tracing.request_ids")
        return None


def current_ids() -> tuple[str, str] | None:
    try:
        return children.current_ids()
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "tracing.current_ids")
        return None


def start_span(name: str, attributes: dict[str, Any], kind: SpanKind = SpanKind.CLIENT) -> Any:
    """Start an active child span of the current span when it is recording; else ``None``."""
    st = provider._state
    if st is None:
        return None
    try:
        return children.start_child(st, name, attributes, kind)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "tracing.start_span")
        return None


def end_span(handle: Any, exc: BaseException | None = None) -> None:
    if handle is None:
        return
    try:
        children.end_child(handle, exc)
    except Exception as error:  # noqa: BLE001
        internal_error(error, "tracing.end_span")


def add_event(name: str, attributes: dict[str, Any]) -> None:
    try:
        children.add_event(name, attributes)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "tracing.add_event")


contrib.use_spans(start_span, end_span)  # template rendering spans (contrib sits below this module)
