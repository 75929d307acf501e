"""Child spans (database, cache, templates, tasks), span events, and the current ids.

A child span is made only when the current span is recording: under an unsampled request, or
outside any request, :func:`start_child` is one context lookup and returns ``None``, and the
caller skips the rest. The handle is a ``(span, context token)`` pair; :func:`end_child`
records the exception (if any), ends the span and restores the previous context.

Child spans are the per-query and per-cache-call cost, so under one of our own spans (a
:class:`FastSpan`, the usual case) :func:`start_child` reads and sets OpenTelemetry's context
variable itself: one lookup for the current span, one copy of the context for the new one,
and the child's ``SpanContext`` built from its parent's without re-validating the ids. That is
exactly what ``get_current_span``, ``set_span_in_context`` and ``attach`` do, minus their
layers of calls; with another runtime context (``OTEL_PYTHON_CONTEXT``) or under someone
else's span, the public API is used.

:func:`new_span` starts a trace's local root, or a span under a remote parent, deciding
sampling: the server span of a request (:mod:`.server`), a Celery task's or a WebSocket's
(:func:`start_with_parent`).

:func:`current_ids` is the one place the logs and the exemplars get ``(trace_id, span_id)``.
"""

from __future__ import annotations

import random
from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.propagation import _SPAN_KEY
from opentelemetry.trace.status import Status, StatusCode

from instrumentation.tracing.ids import new_span_id, new_trace_id, trace_hex
from instrumentation.tracing.provider import TracingState
from instrumentation.tracing.spans import FastSpan, FrozenAttributes, exception_attributes, span_ids

_get_current_span = trace_api.get_current_span
_set_span_in_context = trace_api.set_span_in_context
_attach = context_api.attach
_detach = context_api.detach
_ERROR = Status(StatusCode.ERROR)
_CLIENT = SpanKind.CLIENT
_SAMPLED = TraceFlags(1)
_NOT_SAMPLED = TraceFlags(0)
_EMPTY_STATE = TraceState()
_new_tuple = tuple.__new__
_getrandbits = random.getrandbits  # as ids.new_span_id, without the call
_set_item = dict.__setitem__


def _context_variable() -> ContextVar[Context] | None:
    """OpenTelemetry's context variable when its runtime context is the default one."""
    runtime = getattr(context_api, "_RUNTIME_CONTEXT", None)
    if type(runtime) is not ContextVarsRuntimeContext:
        return None
    variable = getattr(runtime, "_current_context", None)
    return variable if isinstance(variable, ContextVar) else None


_CONTEXT = _context_variable()

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
    variable = _CONTEXT
    if variable is not None and state.tracer is None:
        context = variable.get()
        current = context.get(_SPAN_KEY)
        if type(current) is FastSpan:
            if current._end is not None or not _wanted(state, attributes):  # ended: not recording
                return None
            parent = current._context
            # SpanContext(trace_id, span_id, is_remote, flags, state, is_valid): the parent's
            # ids are valid and a new span id is never 0.
            span_id = _getrandbits(64) or new_span_id()
            child = _new_tuple(SpanContext, (parent[0], span_id, False, parent[3], parent[4], True))
            if type(attributes) is not FrozenAttributes:  # shared ones are kept, never changed
                attributes = dict(attributes)
            span = FastSpan(name, child, parent, kind, attributes, state.sink)
            activated = Context(context)
            _set_item(activated, _SPAN_KEY, span)  # Context refuses item assignment; this is a copy
            return span, variable.set(activated)
    return _start_child(state, name, attributes, kind)


def _start_child(
    state: TracingState, name: str, attributes: dict[str, Any], kind: SpanKind
) -> ChildHandle | None:
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


def new_span(
    state: TracingState,
    name: str,
    attributes: dict[str, Any],
    kind: SpanKind,
    parent: SpanContext | None,
    excluded: bool = False,
) -> trace_api.Span:
    """A span of our own (``state`` has no SDK tracer) under ``parent`` (local or remote), or a
    new trace's root: a :class:`FastSpan` holding ``attributes`` when sampled and recorded,
    else a ``NonRecordingSpan`` with the ids. ``excluded``: never sampled (a probe's request)."""
    trace_id = parent.trace_id if parent is not None else new_trace_id()
    sampled = state.decider.decide(trace_id, parent) and not excluded
    context = SpanContext(
        trace_id,
        new_span_id(),
        False,
        _SAMPLED if sampled else _NOT_SAMPLED,
        parent.trace_state if parent is not None else _EMPTY_STATE,
    )
    if sampled and state.record:
        return FastSpan(name, context, parent, kind, attributes, state.sink)
    return trace_api.NonRecordingSpan(context)


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
        span = new_span(state, name, dict(attributes), kind, parent)
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
            # With the default runtime context every token is one of _CONTEXT's: start_child
            # sets it directly, and OpenTelemetry's attach() sets the same variable.
            variable = _CONTEXT
            if variable is not None:
                try:
                    variable.reset(token)
                except (ValueError, RuntimeError):  # made in another context, or used: logged by detach
                    _detach(token)
            else:
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
