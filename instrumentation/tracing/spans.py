"""Spans: a lean recording span for the request path, turned into SDK spans only at export.

The SDK's ``Span`` validates every attribute under a lock, builds bounded containers and calls
every span processor at start and end: about 20 µs for a server span. :class:`FastSpan` is a
plain object holding a dict; ``end()`` hands it to the batcher (a deque append). The export
thread later converts it with :meth:`FastSpan.to_readable` into an SDK ``ReadableSpan`` (this is
where attribute values are validated and bounded, off the request thread), so the exporters
are the SDK's own.

:class:`FastSpan` implements the whole OpenTelemetry ``Span`` API, so it sits in the
OpenTelemetry context like any span: ``trace.get_current_span()`` in a view returns it, the
contrib instrumentations and ``tracer.start_as_current_span`` parent their spans to it, and the
W3C propagator injects its ids into outgoing requests. Only sampled spans are ``FastSpan``\\s:
an unsampled request carries a ``NonRecordingSpan`` (ids only), and child spans under it are
never created.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind
from opentelemetry.trace.status import Status, StatusCode
from opentelemetry.util import types

from instrumentation.redaction import redact_text
from instrumentation.tracing.ids import span_hex, trace_hex

MAX_ATTRIBUTES = 128
MAX_EVENTS = 128
MAX_LINKS = 128
MAX_STACKTRACE = 8192
MAX_MESSAGE = 4096
_UNSET = Status(StatusCode.UNSET)
_time_ns = time.time_ns
_UNLIMITED = 1 << 31


@dataclasses.dataclass(slots=True)
class Limits:
    """Span limits for :class:`FastSpan`\\s and the OTLP encoder (the SDK's ``SpanLimits`` for SDK
    spans): the ``OTEL_SPAN_*_LIMIT``, ``OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT``,
    ``OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`` and ``OTEL_ATTRIBUTE_*_LIMIT`` variables, read by
    :func:`configure_limits` when tracing is set up. ``value_length`` ``None`` is unlimited."""

    attributes: int = MAX_ATTRIBUTES
    events: int = MAX_EVENTS
    links: int = MAX_LINKS
    event_attributes: int = MAX_ATTRIBUTES
    link_attributes: int = MAX_ATTRIBUTES
    value_length: int | None = None


#: The limits in force (mutated in place, so every module sees the same object).
LIMITS = Limits()


def configure_limits(limits: SpanLimits | None) -> None:
    """Adopt the SDK's limits (``SpanLimits()`` reads the environment); ``None`` restores defaults."""

    def count(value: int | None) -> int:
        return _UNLIMITED if value is None else max(0, int(value))

    if limits is None:
        fresh = Limits()
    else:
        fresh = Limits(
            attributes=count(limits.max_span_attributes),
            events=count(limits.max_events),
            links=count(limits.max_links),
            event_attributes=count(limits.max_event_attributes),
            link_attributes=count(limits.max_link_attributes),
            value_length=limits.max_span_attribute_length,
        )
    for item in dataclasses.fields(Limits):
        setattr(LIMITS, item.name, getattr(fresh, item.name))


def _redact(text: str) -> str:
    """Mask secrets in free text with the log pipeline's redactor (same keys, same rules)."""
    try:
        return redact_text(text)
    except Exception:  # noqa: BLE001 - without a working redactor, keep no free text at all
        return "<not recorded: redaction unavailable>"


def exception_attributes(exception: BaseException, escaped: bool = False) -> dict[str, types.AnyValue]:
    """The semantic-convention attributes of an ``exception`` event (message and stack redacted)."""
    try:
        message = str(exception)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the span
        message = "<unprintable>"
    try:
        stack = "".join(traceback.format_exception(type(exception), exception, exception.__traceback__))
    except Exception:  # noqa: BLE001 - the same __str__ is called again by traceback
        stack = f"{type(exception).__qualname__}: {message}"
    return {
        "exception.type": type(exception).__qualname__,
        "exception.message": _exception_message(message),
        "exception.stacktrace": _exception_stack(stack),
        "exception.escaped": str(escaped),
    }


def _exception_message(text: str) -> str:
    # Cut from the end, so a secret's key stays with what is left of its value.
    return _redact(text[:MAX_MESSAGE])


def _exception_stack(text: str) -> str:
    return _redact(_last_lines(text, MAX_STACKTRACE))


#: The exception event's free-text attributes, and how each is redacted and bounded.
_EXCEPTION_TEXT = {"exception.message": _exception_message, "exception.stacktrace": _exception_stack}


def _last_lines(text: str, limit: int) -> str:
    """The last whole lines of ``text`` within ``limit`` characters, each line cut to
    ``MAX_MESSAGE`` from its end: a line cut at its start could separate a secret from the key
    that marks it."""
    if len(text) <= limit:
        return text
    lines = [
        line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE] + "...\n"
        for line in text.splitlines(keepends=True)
    ]
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        if size + len(line) > limit:
            break
        kept.append(line)
        size += len(line)
    return "".join(reversed(kept))


class FrozenAttributes(dict[str, Any]):
    """Span attributes that many spans share (every query of one statement): never changed, so a
    span keeps a reference rather than a copy (copied on its first write) and the encoder keeps
    their bytes."""

    __slots__ = ()

    def _frozen(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("FrozenAttributes cannot be changed")

    __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = __ior__ = _frozen  # type: ignore[assignment]

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[dict[str, Any]]]:
        return dict, (dict(self),)  # a copy (copy, deepcopy, pickle) is a plain, changeable dict


class FastSpan(trace_api.Span):
    """A sampled, recording span owned by the thread that started it."""

    __slots__ = (
        "_attributes",
        "_context",
        "_dropped_events",
        "_dropped_links",
        "_end",
        "_events",
        "_ids",
        "_kind",
        "_links",
        "_name",
        "_parent",
        "_sink",
        "_start",
        "_status",
    )

    def __init__(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        sink: Callable[[FastSpan], None],
        start_time: int | None = None,
    ) -> None:
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        #: The span's own dict, or :class:`FrozenAttributes` shared with other spans (the same
        #: dict for every query of one statement), copied on the first write; the encoder keeps
        #: the bytes of a shared one.
        self._attributes = attributes
        self._sink = sink
        self._start = start_time or _time_ns()
        self._end: int | None = None
        self._events: list[tuple[str, Mapping[str, Any], int]] | None = None
        self._links: list[Link] | None = None
        self._dropped_events = 0
        self._dropped_links = 0
        self._status = _UNSET
        self._ids: tuple[str, str] | None = None

    # -- the OpenTelemetry Span API ------------------------------------------------------------
    def end(self, end_time: int | None = None) -> None:
        if self._end is None:
            self._end = end_time or _time_ns()
            self._sink(self)

    def get_span_context(self) -> SpanContext:
        return self._context

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if self._end is None:
            self._writable().update(attributes)

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self._end is None:
            self._writable()[key] = value

    def _writable(self) -> dict[str, Any]:
        attributes = self._attributes
        if type(attributes) is FrozenAttributes:
            attributes = self._attributes = dict(attributes)
        return attributes

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        if self._end is not None:
            return
        events = self._events
        if events is None:
            events = self._events = []
        if len(events) < LIMITS.events:
            events.append((name, dict(attributes) if attributes else {}, timestamp or _time_ns()))
        else:
            self._dropped_events += 1

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if self._end is not None or not context.is_valid:
            return
        links = self._links
        if links is None:
            links = self._links = []
        if len(links) < LIMITS.links:
            links.append(Link(context, attributes))
        else:
            self._dropped_links += 1

    def update_name(self, name: str) -> None:
        if self._end is None:
            self._name = name

    def is_recording(self) -> bool:
        return self._end is None

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # The SDK's rules: OK is final, UNSET never overrides.
        if self._end is not None or self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if status.status_code is not StatusCode.UNSET:
            self._status = status

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        if self._end is not None:
            return
        event_attributes = exception_attributes(exception, escaped)
        if attributes:
            event_attributes.update(attributes)
        self.add_event("exception", event_attributes, timestamp)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if exc_val is not None and self._end is None:
            self.record_exception(exc_val, escaped=True)
            self.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        self.end()

    # -- ours --------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> SpanKind:
        return self._kind

    @property
    def attributes(self) -> Mapping[str, Any]:
        return self._attributes

    @property
    def status(self) -> Status:
        return self._status

    def ids(self) -> tuple[str, str]:
        """``(trace_id, span_id)`` as lowercase hex, computed once."""
        ids = self._ids
        if ids is None:
            ids = self._ids = (trace_hex(self._context.trace_id), span_hex(self._context.span_id))
        return ids

    def to_readable(self, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
        """The SDK span the exporters understand (called on the export thread)."""
        events: Sequence[Event] = ()
        if self._events:
            events = [
                Event(
                    name,
                    BoundedAttributes(
                        LIMITS.event_attributes,
                        _clean(attributes),
                        immutable=True,
                        max_value_len=LIMITS.value_length,
                    ),
                    ts,
                )
                for name, attributes, ts in self._events
            ]
        return ReadableSpan(
            name=self._name,
            context=self._context,
            parent=self._parent,
            resource=resource,
            attributes=BoundedAttributes(
                LIMITS.attributes, _clean(self._attributes), immutable=True, max_value_len=LIMITS.value_length
            ),
            events=_bounded(events, self._dropped_events),
            links=_bounded(self._links or (), self._dropped_links),
            kind=self._kind,
            status=self._status,
            start_time=self._start,
            end_time=self._end,
            instrumentation_scope=scope,
        )

    def __repr__(self) -> str:
        return f"FastSpan({self._name!r}, trace_id={trace_hex(self._context.trace_id)})"


def _bounded(items: Sequence[Any], dropped: int) -> Sequence[Any]:
    """``items`` as the SDK's ``BoundedList``, which is how a ``ReadableSpan`` reports ``dropped``."""
    if not dropped:
        return items
    bounded: BoundedList[Any] = BoundedList(None)
    bounded.extend(items)
    bounded.dropped = dropped
    return bounded


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values and make strings encodable, so one bad value cannot fail a batch."""
    cleaned: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if type(value) is str and not value.isascii():
            cleaned[key] = value.encode("utf-8", "replace").decode("utf-8")
        else:
            cleaned[key] = value
    return cleaned


def _reissued(
    span: ReadableSpan,
    *,
    resource: Resource | None = None,
    events: Sequence[Event] | None = None,
    status: Status | None = None,
) -> ReadableSpan:
    """A copy of an SDK span (they are immutable) with some of its parts replaced; the dropped
    attribute, event and link counts are kept (the SDK's properties return plain copies)."""
    attributes: Any = span.attributes
    if span.dropped_attributes:
        attributes = BoundedAttributes(None, attributes, immutable=True)
        attributes.dropped = span.dropped_attributes
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource if resource is None else resource,
        attributes=attributes,
        events=_bounded(span.events if events is None else events, span.dropped_events),
        links=_bounded(span.links, span.dropped_links),
        kind=span.kind,
        status=span.status if status is None else status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def copy_with_resource(span: ReadableSpan, resource: Resource) -> ReadableSpan:
    """An SDK span re-issued with this process's resource (pid, instance id after fork)."""
    return _reissued(span, resource=resource)


def span_ids(span: trace_api.Span) -> tuple[str, str] | None:
    """``(trace id, span id)`` of any span in lowercase hex; ``None`` for an invalid context."""
    if type(span) is FastSpan:
        return span.ids()
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return trace_hex(context.trace_id), span_hex(context.span_id)


def redact_sdk_span(span: ReadableSpan) -> ReadableSpan:
    """An SDK span (made with ``tracer.start_as_current_span`` in application code, or by a
    contrib instrumentation) with its exception events and status description redacted and
    bounded as this project's own spans are; the span itself when there is nothing to redact."""
    status = span.status
    if not span.events and not status.description:
        return span
    events = []
    for event in span.events:
        attributes = event.attributes
        if attributes and any(key in _EXCEPTION_TEXT for key in attributes):
            cleaned = dict(attributes)
            for key, redact in _EXCEPTION_TEXT.items():
                value = cleaned.get(key)
                if isinstance(value, str):
                    cleaned[key] = redact(value)
            redacted = BoundedAttributes(LIMITS.event_attributes, cleaned)
            redacted.dropped += event.dropped_attributes
            events.append(Event(event.name, redacted, event.timestamp))
        else:
            events.append(event)
    if status.description:
        status = Status(status.status_code, _exception_message(status.description))
    return _reissued(span, events=events, status=status)
