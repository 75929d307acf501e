"""W3C Trace Context and Baggage: reading ``traceparent``, ``tracestate`` and ``baggage``.

Incoming headers are untrusted. A ``traceparent`` that is not exactly valid (wrong length or
case, version ``ff``, all-zero ids, several headers folded into one) is ignored and the request
starts a new trace; ``tracestate`` is read only beside a valid ``traceparent`` and is dropped
whole when any member is invalid; ``baggage`` is capped at the W3C limits (8192 bytes, 180
members, 4096 bytes each). Nothing here raises or logs the hostile value: rejecting context is
the normal outcome for bad input, not an error. Parsing is done here rather than through the
SDK's propagators, which log a warning per bad header and go through a getter object per key.

When ``OTEL_PROPAGATORS`` names something other than ``tracecontext,baggage`` (B3, Jaeger),
:func:`extractor_for_environment` returns the configured global propagator instead.

Injection (Celery task headers) goes through the global propagator, ``opentelemetry.propagate``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from opentelemetry import baggage as baggage_api
from opentelemetry import propagate
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.trace import SpanContext, TraceFlags, TraceState

MAX_TRACEPARENT = 512
MAX_TRACESTATE = 8192
MAX_TRACESTATE_MEMBERS = 32
MAX_BAGGAGE = 8192
MAX_BAGGAGE_MEMBERS = 180
MAX_BAGGAGE_MEMBER = 4096

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[\x21-\x7e]*)?")
_TS_KEY = r"[a-z][_0-9a-z\-\*\/]{0,255}|[a-z0-9][_0-9a-z\-\*\/]{0,240}@[a-z][_0-9a-z\-\*\/]{0,13}"
_TS_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_TS_MEMBER = re.compile(rf"({_TS_KEY})=({_TS_VALUE})")
_BAGGAGE_KEY = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAGGAGE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
_EMPTY_STATE = TraceState()
_FLAGS = {0: TraceFlags(0), 1: TraceFlags(1)}

#: ``extract(meta) -> (remote parent or None, base context or None)``.
Extractor = Callable[[Mapping[str, Any]], tuple[SpanContext | None, Context | None]]


def parse_traceparent(value: str) -> SpanContext | None:
    """The remote span context in a ``traceparent`` value, or ``None`` if it is not valid."""
    if len(value) > MAX_TRACEPARENT:
        return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    version, trace_id_hex, span_id_hex, flags_hex, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    trace_id = int(trace_id_hex, 16)
    span_id = int(span_id_hex, 16)
    if trace_id == 0 or span_id == 0:
        return None
    flags = int(flags_hex, 16) & 1
    return SpanContext(trace_id, span_id, True, _FLAGS[flags], _EMPTY_STATE)


def parse_tracestate(value: str) -> TraceState:
    """The ``tracestate`` list, or an empty one when the header is invalid or too long."""
    if not value or len(value) > MAX_TRACESTATE:
        return _EMPTY_STATE
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for raw in value.split(","):
        member = raw.strip(" \t")
        if not member:
            continue
        match = _TS_MEMBER.fullmatch(member)
        if match is None:
            return _EMPTY_STATE
        key, item = match.groups()
        if key in seen:
            return _EMPTY_STATE
        seen.add(key)
        pairs.append((key, item))
        if len(pairs) > MAX_TRACESTATE_MEMBERS:
            return _EMPTY_STATE
    return TraceState(pairs) if pairs else _EMPTY_STATE


def parse_baggage(value: str, context: Context | None = None) -> Context | None:
    """A context carrying the valid members of a ``baggage`` header (``None`` if there are none)."""
    if not value or len(value) > MAX_BAGGAGE:
        return None
    result = context
    found = 0
    for raw in value.split(","):
        if len(raw) > MAX_BAGGAGE_MEMBER:
            continue
        pair = raw.split(";", 1)[0]
        key, sep, item = pair.partition("=")
        key = key.strip(" \t")
        item = item.strip(" \t")
        if not sep or not _BAGGAGE_KEY.fullmatch(key) or not _BAGGAGE_VALUE.fullmatch(item):
            continue
        result = baggage_api.set_baggage(key, unquote(item), context=result or Context())
        found += 1
        if found >= MAX_BAGGAGE_MEMBERS:
            break
    return result


def extract_w3c(meta: Mapping[str, Any]) -> tuple[SpanContext | None, Context | None]:
    """Read the W3C headers from a WSGI/ASGI ``request.META``."""
    parent = None
    raw = meta.get("HTTP_TRACEPARENT")
    if raw:
        parent = parse_traceparent(raw)
        if parent is not None:
            state = meta.get("HTTP_TRACESTATE")
            if state:
                parsed = parse_tracestate(state)
                if parsed:
                    parent = SpanContext(parent.trace_id, parent.span_id, True, parent.trace_flags, parsed)
    base = None
    raw_baggage = meta.get("HTTP_BAGGAGE")
    if raw_baggage:
        base = parse_baggage(raw_baggage)
    return parent, base


class _MetaGetter:
    """Lets an SDK propagator read ``request.META`` (``traceparent`` -> ``HTTP_TRACEPARENT``)."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return [value] if isinstance(value, str) and len(value) <= MAX_BAGGAGE else None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [key[5:].lower().replace("_", "-") for key in carrier if key.startswith("HTTP_")]


_getter = _MetaGetter()


def extract_configured(meta: Mapping[str, Any]) -> tuple[SpanContext | None, Context | None]:
    """Read whatever the configured global propagator understands (B3, Jaeger, ...)."""
    try:
        context = propagate.extract(meta, getter=_getter)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - hostile input starts a new trace
        return None, None
    span_context = trace_api.get_current_span(context).get_span_context()
    parent = span_context if span_context.is_valid else None
    return parent, context


def extractor_for_environment() -> Extractor:
    """Our W3C parser unless ``OTEL_PROPAGATORS`` asks for other formats."""
    configured = os.environ.get("OTEL_PROPAGATORS", "").replace(" ", "").lower()
    if configured in {"", "tracecontext,baggage", "tracecontext", "baggage,tracecontext"}:
        return extract_w3c
    return extract_configured


def inject(carrier: dict[str, Any], context: Context | None = None) -> None:
    """Write the current (or given) context into ``carrier`` with the global propagator."""
    propagate.inject(carrier, context=context)
