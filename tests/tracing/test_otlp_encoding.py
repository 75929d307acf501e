"""The hand-written OTLP encoder, checked by decoding its output with ``opentelemetry-proto``."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode

from instrumentation.tracing import otlp
from instrumentation.tracing.spans import FastSpan
from tests.tracing.receiver import decode

SCOPE = InstrumentationScope("fleetobs", "1.0")
scalars = st.one_of(
    st.text(max_size=40),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
)
values = st.one_of(
    scalars, st.lists(st.text(max_size=10), max_size=4), st.lists(st.integers(0, 10**6), max_size=4)
)
attribute_maps = st.dictionaries(st.text(min_size=1, max_size=30), values, max_size=12)


def _span(attributes: dict[str, Any], name: str = "GET x/", parent: SpanContext | None = None) -> FastSpan:
    context = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False, TraceFlags(1),
                          TraceState([("vendor", "v1")]))  # fmt: skip
    span = FastSpan(name, context, parent, SpanKind.SERVER, dict(attributes), lambda s: None, 1_000)
    span.end(2_000)
    return span


@settings(max_examples=150, deadline=None)
@given(attributes=attribute_maps, name=st.text(max_size=50))
def test_attributes_and_names_round_trip(attributes: dict[str, Any], name: str) -> None:
    body = otlp.encode_request(
        [_span(attributes, name)], otlp.encode_resource(Resource({"service.name": "s"})), SCOPE
    )
    (decoded,) = decode(body)
    assert decoded.name == name
    assert decoded.attributes == attributes
    assert decoded.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert decoded.span_id == "b7ad6b7169203331"
    assert decoded.trace_state == "vendor=v1"
    assert (decoded.start_ns, decoded.end_ns) == (1_000, 2_000)
    assert decoded.resource == {"service.name": "s"}
    assert decoded.scope == "fleetobs"


def test_unencodable_values_are_dropped_not_fatal() -> None:
    attributes = {"ok": 1, "none": None, "object": object(), "huge": 2**70, "nan": math.nan}
    (decoded,) = decode(otlp.encode_request([_span(attributes)], b"", SCOPE))
    assert decoded.attributes["ok"] == 1
    assert math.isnan(decoded.attributes["nan"])
    assert set(decoded.attributes) == {"ok", "nan"}


def test_parent_events_status_and_flags() -> None:
    parent = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0x1111111111111111, True, TraceFlags(1))
    span = FastSpan("SELECT", SpanContext(parent.trace_id, 0x2222222222222222, False, TraceFlags(1)), parent,
                    SpanKind.CLIENT, {}, lambda s: None, 5)  # fmt: skip
    span.add_event("n_plus_one", {"db.query.count": 7}, timestamp=6)
    span.set_status(Status(StatusCode.ERROR, "broken"))
    span.end(9)
    (decoded,) = decode(otlp.encode_request([span], b"", SCOPE))
    assert decoded.parent_span_id == "1111111111111111"
    assert decoded.kind == "CLIENT"
    assert decoded.events == [("n_plus_one", {"db.query.count": 7})]
    assert decoded.status == "ERROR"
    assert decoded.flags == 0x301  # sampled, has-is-remote, parent is remote
