"""The hand-written OTLP encoder against the SDK's own (``encode_spans``), decoded field by field.

Spans are recorded by a real SDK ``TracerProvider`` with small limits, so attributes, events,
links and their attributes are dropped and counted as the SDK counts them; resource and scope
carry schema URLs and the scope has attributes. Both encodings are decoded with
``opentelemetry-proto`` and compared whole, after the two documented differences are taken out
(``flags`` carries the W3C trace flags in its low byte; a link's ``trace_state`` is sent).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode

from instrumentation.tracing import otlp
from instrumentation.tracing.spans import FastSpan, FrozenAttributes

LIMITS = SpanLimits(
    max_span_attributes=6,
    max_events=3,
    max_links=2,
    max_event_attributes=3,
    max_link_attributes=2,
    max_span_attribute_length=300,
)

# Protobuf strings are UTF-8: the SDK's encoder raises on lone surrogates (ours replaces them).
long_text = st.builds(lambda char, size: char * size, st.characters(codec="utf-8"), st.integers(300, 5000))
texts = st.one_of(st.text(max_size=30), long_text)
scalars = st.one_of(
    texts,
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
)
values = st.one_of(
    scalars,
    st.lists(st.text(max_size=10), max_size=4),
    st.lists(st.integers(-(10**6), 10**6), max_size=4),
    st.lists(st.booleans(), max_size=3),
)
keys = st.text(min_size=1, max_size=20)
attribute_maps = st.dictionaries(keys, values, max_size=9)
ids = st.integers(1, 2**64 - 1)
trace_states = st.sampled_from([TraceState(), TraceState([("vendor", "v1"), ("other", "x-y")])])
contexts = st.builds(
    lambda trace_id, span_id, remote, flags, state: SpanContext(
        trace_id, span_id, remote, TraceFlags(flags), state
    ),
    st.integers(1, 2**128 - 1),
    ids,
    st.booleans(),
    st.sampled_from([0, 1]),
    trace_states,
)
statuses = st.one_of(
    st.just(None),
    st.builds(Status, st.just(StatusCode.OK)),
    st.builds(Status, st.just(StatusCode.ERROR), st.one_of(st.none(), texts)),
)
schema_urls = st.sampled_from(["", "https://opentelemetry.io/schemas/1.26.0"])


@st.composite
def span_specs(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "name": draw(texts),
        "kind": draw(st.sampled_from(list(SpanKind))),
        "parent": draw(st.one_of(st.none(), contexts)),
        "attributes": draw(attribute_maps),
        "events": draw(st.lists(st.tuples(texts, attribute_maps, st.integers(1, 2**62)), max_size=5)),
        "links": draw(st.lists(st.tuples(contexts, attribute_maps), max_size=4)),
        "status": draw(statuses),
        "times": sorted(draw(st.lists(st.integers(1, 2**62), min_size=2, max_size=2))),
        "scope": draw(st.sampled_from([0, 1])),
    }


def _record(specs: list[dict[str, Any]], resource: Resource, scopes: list[InstrumentationScope]) -> list[Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=resource, sampler=ALWAYS_ON, span_limits=LIMITS, shutdown_on_exit=False
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracers = [
        provider.get_tracer(scope.name, scope.version, scope.schema_url, dict(scope.attributes or {}))
        for scope in scopes
    ]
    for spec in specs:
        parent = spec["parent"]
        context = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent else None
        span = tracers[spec["scope"]].start_span(
            spec["name"],
            context=context,
            kind=spec["kind"],
            attributes=spec["attributes"],
            links=[Link(link_context, attributes) for link_context, attributes in spec["links"]],
            start_time=spec["times"][0],
        )
        for name, attributes, timestamp in spec["events"]:
            span.add_event(name, attributes, timestamp)
        if spec["status"] is not None:
            span.set_status(spec["status"])
        span.end(spec["times"][1])
    provider.shutdown()
    return list(exporter.get_finished_spans())


def _normalised(request: ExportTraceServiceRequest, ours: bool) -> ExportTraceServiceRequest:
    for resource_spans in request.resource_spans:
        ordered = sorted(
            resource_spans.scope_spans, key=lambda s: (s.scope.name, s.scope.version, s.schema_url)
        )
        copies = [type(item)() for item in ordered]
        for copy, item in zip(copies, ordered, strict=True):
            copy.CopyFrom(item)
        del resource_spans.scope_spans[:]
        resource_spans.scope_spans.extend(copies)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if not span.status.code and not span.status.message:
                    span.ClearField("status")
                if ours:
                    span.flags &= ~0xFF  # the W3C trace flags, which the SDK leaves out
                    for link in span.links:
                        link.flags &= ~0xFF
                        link.trace_state = ""  # sent by us, not by the SDK
    return request


def _ours(spans: list[Any], resource: Resource, default: InstrumentationScope) -> ExportTraceServiceRequest:
    body = otlp.encode_request(spans, otlp.encode_resource(resource), default)
    return ExportTraceServiceRequest.FromString(body)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(span_specs(), min_size=1, max_size=4),
    resource_attributes=attribute_maps,
    resource_schema=schema_urls,
    scope_schema=schema_urls,
    scope_attributes=st.dictionaries(keys, scalars, max_size=3),
)
def test_sdk_spans_encode_as_the_sdk_encodes_them(
    specs: list[dict[str, Any]],
    resource_attributes: dict[str, Any],
    resource_schema: str,
    scope_schema: str,
    scope_attributes: dict[str, Any],
) -> None:
    resource = Resource(resource_attributes, resource_schema)
    scopes = [
        InstrumentationScope("app.orders", "2.1", scope_schema, scope_attributes),
        InstrumentationScope("opentelemetry.instrumentation.requests", "0.66b2"),
    ]
    spans = _record(specs, resource, scopes)
    ours = _normalised(_ours(spans, resource, scopes[0]), ours=True)
    theirs = _normalised(encode_spans(spans), ours=False)
    assert ours == theirs


def test_dropped_counts_and_schema_urls_reach_the_wire() -> None:
    """One explicit example of what the property test covers, readable on failure."""
    resource = Resource({"service.name": "shop"}, "https://opentelemetry.io/schemas/1.26.0")
    scope = InstrumentationScope("app", "1", "https://opentelemetry.io/schemas/1.21.0", {"team": "payments"})
    link = SpanContext(1, 2, True, TraceFlags(1))
    spec = {
        "name": "checkout",
        "kind": SpanKind.INTERNAL,
        "parent": None,
        "attributes": {f"k{i}": i for i in range(10)},
        "events": [(f"e{i}", {f"a{j}": j for j in range(5)}, 10 + i) for i in range(5)],
        "links": [(link, {f"l{j}": j for j in range(4)})] * 3,
        "status": None,
        "times": [1, 100],
        "scope": 0,
    }
    (span,) = _record([spec], resource, [scope])
    decoded = _ours([span], resource, scope)
    resource_spans = decoded.resource_spans[0]
    assert resource_spans.schema_url == "https://opentelemetry.io/schemas/1.26.0"
    scope_spans = resource_spans.scope_spans[0]
    assert scope_spans.schema_url == "https://opentelemetry.io/schemas/1.21.0"
    assert {kv.key: kv.value.string_value for kv in scope_spans.scope.attributes} == {"team": "payments"}
    wire = scope_spans.spans[0]
    assert (wire.dropped_attributes_count, wire.dropped_events_count, wire.dropped_links_count) == (4, 2, 1)
    assert [event.dropped_attributes_count for event in wire.events] == [2, 2, 2]
    assert [link.dropped_attributes_count for link in wire.links] == [2, 2]


@settings(max_examples=60, deadline=None)
@given(attributes=attribute_maps, name=texts, parent=st.one_of(st.none(), contexts), status=statuses)
def test_fast_spans_encode_as_the_sdk_encodes_their_sdk_form(
    attributes: dict[str, Any], name: str, parent: SpanContext | None, status: Status | None
) -> None:
    resource = Resource({"service.name": "shop"})
    scope = InstrumentationScope("fleetobs", "1.0")
    context = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False, TraceFlags(1))
    span = FastSpan(name, context, parent, SpanKind.SERVER, dict(attributes), lambda s: None, 1_000)
    span.add_event("note", {"n": 1}, timestamp=1_500)
    if status is not None:
        span.set_status(status)
    span.end(2_000)
    ours = _normalised(_ours([span], resource, scope), ours=True)
    theirs = _normalised(encode_spans([span.to_readable(resource, scope)]), ours=False)
    assert ours == theirs


@settings(max_examples=60, deadline=None)
@given(
    attributes=attribute_maps,
    name=texts,
    parent=st.one_of(st.none(), contexts),
    kind=st.sampled_from(SpanKind),
    shared=st.booleans(),
)
def test_plain_fast_spans_encode_as_the_sdk_encodes_their_sdk_form(
    attributes: dict[str, Any], name: str, parent: SpanContext | None, kind: SpanKind, shared: bool
) -> None:
    """Spans with attributes only (most child spans, encoded by a shorter path), their attributes
    their own or shared with other spans (a database statement's)."""
    resource = Resource({"service.name": "shop"})
    scope = InstrumentationScope("fleetobs", "1.0")
    context = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False, TraceFlags(1))
    given_attributes = FrozenAttributes(attributes) if shared else dict(attributes)
    spans = [
        FastSpan(name, context, parent, kind, given_attributes, lambda s: None, 1_000)
        for _ in range(2)  # the second one reuses what the encoder kept of shared attributes
    ]
    for span in spans:
        span.end(2_000)
    ours = _normalised(_ours(spans, resource, scope), ours=True)
    theirs = _normalised(encode_spans([span.to_readable(resource, scope) for span in spans]), ours=False)
    assert ours == theirs
