"""Child spans (database, cache, templates, tasks), span events, and the current ids.

A child span is made only when the current span is recording: under an unsampled request, or
outside any request, :func:`start_child` is one context lookup and returns ``None``, and the
caller skips the rest. The handle is a ``(span, context token)`` pair; :func:`end_child`
records the exception (if any), ends the span and restores the previous context.

:func:`current_ids` is the one place the logs and the exemplars get ``(trace_id, span_id)``.
"""

from __future__ import annotations

from contextvars import Token
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode

from instrumentation.tracing.ids import new_span_id, new_trace_id, trace_hex
from instrumentation.tracing.provider import TracingState
from instrumentation.tracing.spans import FastSpan, exception_attributes, span_ids

_get_current_span = trace_api.get_current_span
_set_span_in_context = trace_api.set_span_in_context
_attach = context_api.attach
_detach = context_api.detach
_ERROR = Status(StatusCode.ERROR)
_CLIENT = SpanKind.CLIENT
_SAMPLED = TraceFlags(1)
_NOT_SAMPLED = TraceFlags(0)
_EMPTY_STATE = TraceState()

ChildHandle = tuple[trace_api.Span, "Token[Context] | None"]


def _wanted(state: TracingState, attributes: dict[str, Any]) -> bool:
    if "cache.alias" in attributes:
        return state.trace_cache
    if "db.system" in attributes:
        return state.trace_db
    return True


def start_child(
    state: TracingState, name: str, attributes: dict[str, Any], kind: SpanKind = _CLIENT
) -> ChildHandle | None:
    """Start and activate a child of the current span, only if the current span is recording."""
    current = _get_current_span()
    if not current.is_recording() or not _wanted(state, attributes):
        return None
    parent = current.get_span_context()
    span: trace_api.Span
    if state.tracer is None:
        context = SpanContext(parent.trace_id, new_span_id(), False, parent.trace_flags, parent.trace_state)
        span = FastSpan(name, context, parent, kind, dict(attributes), state.sink)
    else:
        span = state.tracer.start_span(name, kind=kind, attributes=attributes)
    return span, _attach(_set_span_in_context(span))


def start_with_parent(
    state: TracingState,
    name: str,
    attributes: dict[str, Any],
    kind: SpanKind,
    parent: SpanContext | None,
    activate: bool = True,
) -> ChildHandle:
    """Start a span under ``parent`` (local or remote), or as a new trace's root.

    Unlike :func:`start_child` this always returns a handle: an unsampled span is a
    ``NonRecordingSpan`` that still carries the trace id (for logs and for propagation).
    With ``activate=False`` the span is not made current (the handle's token is ``None``).
    """
    if parent is not None and not parent.is_valid:
        parent = None
    span: trace_api.Span
    if state.tracer is None:
        trace_id = parent.trace_id if parent is not None else new_trace_id()
        sampled = state.decider.decide(trace_id, parent)
        context = SpanContext(
            trace_id,
            new_span_id(),
            False,
            _SAMPLED if sampled else _NOT_SAMPLED,
            parent.trace_state if parent is not None else _EMPTY_STATE,
        )
        if sampled and state.record:
            span = FastSpan(name, context, parent, kind, dict(attributes), state.sink)
        else:
            span = trace_api.NonRecordingSpan(context)
    else:
        parent_context = Context()
        if parent is not None:
            parent_context = _set_span_in_context(trace_api.NonRecordingSpan(parent), parent_context)
        span = state.tracer.start_span(name, context=parent_context, kind=kind, attributes=attributes)
    return span, (_attach(_set_span_in_context(span)) if activate else None)


def end_child(handle: ChildHandle, exc: BaseException | None = None) -> None:
    span, token = handle
    try:
        if exc is not None:
            span.set_status(_ERROR)
            span.set_attribute("error.type", type(exc).__qualname__)
            span.add_event("exception", exception_attributes(exc))
        span.end()
    finally:
        if token is not None:
            _detach(token)


def add_event(name: str, attributes: dict[str, Any]) -> None:
    span = _get_current_span()
    if span.is_recording():
        span.add_event(name, attributes)


def current_ids() -> tuple[str, str] | None:
    return span_ids(_get_current_span())


def current_sampled_trace_id() -> str | None:
    span = _get_current_span()
    if type(span) is FastSpan:
        return span.ids()[0]
    context = span.get_span_context()
    if context.is_valid and context.trace_flags & 1:
        return trace_hex(context.trace_id)
    return None
