"""W3C header parsing: valid context is read exactly, anything else is rejected without error."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import baggage

from instrumentation.tracing.propagation import (
    extract_w3c,
    parse_baggage,
    parse_traceparent,
    parse_tracestate,
)
from instrumentation.tracing.sampling import KNOWN, from_settings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


@pytest.mark.parametrize(
    ("header", "sampled"),
    [
        (f"00-{TRACE_ID}-{SPAN_ID}-01", True),
        (f"00-{TRACE_ID}-{SPAN_ID}-00", False),
        (f"00-{TRACE_ID}-{SPAN_ID}-03", True),  # unknown flag bits are ignored
        (f"01-{TRACE_ID}-{SPAN_ID}-01-future-fields", True),  # later versions may append fields
    ],
)
def test_valid_traceparent(header: str, sampled: bool) -> None:
    context = parse_traceparent(header)
    assert context is not None
    assert context.trace_id == int(TRACE_ID, 16)
    assert context.span_id == int(SPAN_ID, 16)
    assert context.is_remote
    assert bool(context.trace_flags & 1) is sampled


@pytest.mark.parametrize(
    "header",
    [
        "",
        "00",
        f"00-{TRACE_ID}-{SPAN_ID}",
        f"00-{TRACE_ID}-{SPAN_ID}-1",
        f"00-{TRACE_ID.upper()}-{SPAN_ID}-01",
        f"ff-{TRACE_ID}-{SPAN_ID}-01",
        f"00-{'0' * 32}-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"00-{TRACE_ID}-{SPAN_ID}-01-extra",
        f"00-{TRACE_ID}-{SPAN_ID}-01,00-{TRACE_ID}-{SPAN_ID}-01",
        f" 00-{TRACE_ID}-{SPAN_ID}-01",
        f"00_{TRACE_ID}_{SPAN_ID}_01",
        f"01-{TRACE_ID}-{SPAN_ID}-01-" + "x" * 600,
        "zz-" + "g" * 52,
    ],
)
def test_invalid_traceparent(header: str) -> None:
    assert parse_traceparent(header) is None


def test_tracestate_valid_and_invalid() -> None:
    assert parse_tracestate("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE").to_header() == (
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    )
    assert parse_tracestate("tenant@vendor=1").to_header() == "tenant@vendor=1"
    assert not parse_tracestate("UPPER=1")
    assert not parse_tracestate("a=1,a=2")  # duplicate keys void the header
    assert not parse_tracestate(",".join(f"k{i}=v" for i in range(33)))  # more than 32 members
    assert not parse_tracestate("a=" + "v" * 9000)


def test_tracestate_only_read_beside_a_valid_traceparent() -> None:
    parent, _ = extract_w3c({"HTTP_TRACESTATE": "a=b"})
    assert parent is None
    parent, _ = extract_w3c({"HTTP_TRACEPARENT": f"00-{TRACE_ID}-{SPAN_ID}-01", "HTTP_TRACESTATE": "a=b"})
    assert parent is not None
    assert parent.trace_state.to_header() == "a=b"


def test_baggage_limits() -> None:
    context = parse_baggage("a=1,b=two%20words;meta=x, c = 3 ,=bad,d")
    assert context is not None
    assert dict(baggage.get_all(context)) == {"a": "1", "b": "two words", "c": "3"}
    assert parse_baggage("k=" + "v" * 9000) is None
    many = parse_baggage(",".join(f"k{i}=v" for i in range(300)))
    assert many is not None
    assert len(baggage.get_all(many)) == 180
    assert parse_baggage("no pairs here") is None


@given(st.text(max_size=300))
def test_hostile_headers_never_raise_or_log(text: str) -> None:
    logger = logging.getLogger("opentelemetry")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        extract_w3c({"HTTP_TRACEPARENT": text, "HTTP_TRACESTATE": text, "HTTP_BAGGAGE": text})
        extract_w3c({"HTTP_TRACEPARENT": f"00-{TRACE_ID}-{SPAN_ID}-01", "HTTP_TRACESTATE": text})
    finally:
        logger.removeHandler(handler)
    assert records == []


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_every_standard_sampler_name_is_accepted(name: str) -> None:
    config = from_settings(name, 0.25)
    assert config.name == name
    assert config.parent_based is name.startswith("parentbased")
    assert config.sdk_sampler() is not None


def test_unknown_sampler_falls_back_to_the_default(caplog: pytest.LogCaptureFixture) -> None:
    config = from_settings("jaeger_remote", 0.5)
    assert config.name == "parentbased_traceidratio"
    assert config.ratio == 0.5
    assert "unknown traces sampler" in caplog.text


def test_ratio_decision_matches_the_sdk() -> None:
    from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased

    from instrumentation.tracing.ids import new_trace_id
    from instrumentation.tracing.sampling import Decider

    ours = Decider(from_settings("traceidratio", 0.3))
    theirs = TraceIdRatioBased(0.3)
    for _ in range(2000):
        trace_id = new_trace_id()
        expected = theirs.should_sample(None, trace_id, "x").decision is Decision.RECORD_AND_SAMPLE
        assert ours.decide(trace_id, None) is expected
