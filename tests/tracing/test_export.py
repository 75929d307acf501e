"""Export over real OTLP/HTTP to a receiver that decodes the protobuf, and the collector faults."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, RequestFactory
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from instrumentation import conf, testing, tracing
from instrumentation.tracing import otlp, provider
from instrumentation.tracing.provider import TracingState
from tests.project.models import Author, Book
from tests.support.procs import free_port
from tests.tracing.receiver import Blackhole, OtlpReceiver


def _counter(name: str, **labels: str) -> float:
    return testing.get_sample_value(f"{name}_total", labels) or 0.0


@pytest.fixture
def start_tracing() -> Iterator[Any]:
    def start(endpoint: str, **overrides: Any) -> TracingState:
        settings = dataclasses.replace(
            conf.get_settings(), tracing_enabled=True, otlp_endpoint=endpoint, **overrides
        )
        state = provider.setup(settings)
        assert state is not None
        return state

    yield start
    provider.reset()


@pytest.mark.django_db
def test_request_spans_reach_a_real_otlp_receiver(receiver: OtlpReceiver, start_tracing: Any) -> None:
    Book.objects.create(title="t", author=Author.objects.create(name="a"))
    start_tracing(receiver.endpoint, span_schedule_delay=0.05)
    response = Client().get("/books/joined/", HTTP_USER_AGENT="agent/1")
    assert tracing.force_flush(10)
    spans = receiver.wait_for(lambda s: len(s) >= 2)
    (server,) = [s for s in spans if s.kind == "SERVER"]
    assert server.name == "GET books/joined/"
    assert server.trace_id == response["X-Trace-Id"]
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["user_agent.original"] == "agent/1"
    assert server.resource["service.name"] == "tests"
    assert server.scope == "fleetobs"
    queries = [s for s in spans if s.kind == "CLIENT"]
    assert queries
    assert {q.parent_span_id for q in queries} == {server.span_id}
    assert _counter("fleetobs_telemetry_exported", signal="spans") >= len(spans)


def test_our_encoding_matches_the_sdk_encoder() -> None:
    got: list[Any] = []
    settings = dataclasses.replace(
        conf.get_settings(), tracing_enabled=True, otlp_endpoint="http://unused:4318"
    )
    state = provider.setup(settings)
    assert state is not None
    state.sink = got.append
    request = RequestFactory().get(
        "/ok/",
        HTTP_TRACEPARENT="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        HTTP_TRACESTATE="a=1",
        HTTP_USER_AGENT="ünïcode agent",
    )
    handle = tracing.start_request(request)
    child = tracing.start_span(
        "SELECT db",
        {"db.system": "x", "n": -5, "big": 2**40, "f": 0.5, "b": False, "l": ["a", "b"], "li": [1, 2]},
    )
    tracing.add_event("n_plus_one", {"db.query.count": 9})
    tracing.end_span(child, RuntimeError("failed"))
    tracing.finish_request(handle, request, "ok/", 502, None)
    assert state.batcher is not None
    resource = state.batcher._process_resource()
    scope = state.batcher._scope
    ours = MessageToDict(
        ExportTraceServiceRequest.FromString(otlp.encode_request(got, otlp.encode_resource(resource), scope))
    )
    sdk = MessageToDict(encode_spans([span.to_readable(resource, scope) for span in got]))
    for message in (ours, sdk):
        for span in message["resourceSpans"][0]["scopeSpans"][0]["spans"]:
            span.pop("flags")  # ours also carries the W3C trace flags in the low byte (the proto allows it)
    assert json.dumps(ours, sort_keys=True) == json.dumps(sdk, sort_keys=True)


def test_shutdown_flushes_queued_spans(receiver: OtlpReceiver, start_tracing: Any) -> None:
    start_tracing(receiver.endpoint, span_schedule_delay=60.0)
    for _ in range(25):
        Client().get("/ok/")
    assert receiver.spans == []  # nothing exported yet: the schedule delay is a minute
    tracing.shutdown()
    assert len(receiver.spans) == 25


@pytest.mark.parametrize("fault", ["down", "refusing", "blackholed", "slow"])
def test_collector_faults_never_reach_requests(fault: str, start_tracing: Any) -> None:
    """Requests stay fast and succeed; what cannot be exported is counted as dropped."""
    with _Collector(fault) as endpoint:
        start_tracing(
            endpoint, span_queue_size=20, span_batch_size=5, span_schedule_delay=0.05, span_export_timeout=3.0
        )
        client = Client()
        before = _counter("fleetobs_telemetry_dropped", signal="spans", reason="queue_full") + _counter(
            "fleetobs_telemetry_dropped", signal="spans", reason="export_failed"
        )
        durations = []
        for _ in range(200):
            start = time.perf_counter()
            assert client.get("/ok/").status_code == 200
            durations.append(time.perf_counter() - start)
        durations.sort()
        # Generous: the request path never waits on the exporter (a wait would take the 3 s export timeout).
        assert durations[len(durations) // 2] < 0.1
        assert durations[-1] < 2.0
        deadline = time.monotonic() + 10
        dropped = 0.0
        while time.monotonic() < deadline:
            dropped = _counter("fleetobs_telemetry_dropped", signal="spans", reason="queue_full") + _counter(
                "fleetobs_telemetry_dropped", signal="spans", reason="export_failed"
            )
            if dropped - before > 0:
                break
            time.sleep(0.1)
        assert dropped - before > 0
        started = time.monotonic()
        tracing.shutdown()
        assert time.monotonic() - started < 6.0  # bounded by the export timeout (+1 s), at most 5 s


@pytest.mark.parametrize("fault", ["down", "refusing"])
def test_failed_exports_are_counted(fault: str, start_tracing: Any) -> None:
    with _Collector(fault) as endpoint:
        start_tracing(endpoint, span_schedule_delay=0.05, span_export_timeout=0.5)
        before = _counter("fleetobs_telemetry_export_failures", signal="spans")
        Client().get("/ok/")
        tracing.force_flush(5)
        assert _counter("fleetobs_telemetry_export_failures", signal="spans") > before


def test_export_resumes_after_the_collector_recovers(start_tracing: Any) -> None:
    with OtlpReceiver(mode="fail") as receiver:
        start_tracing(receiver.endpoint, span_schedule_delay=0.05, span_export_timeout=0.3)
        Client().get("/ok/")
        tracing.force_flush(5)
        assert receiver.spans == []
        receiver.mode = "ok"
        Client().get("/ok/")
        tracing.force_flush(5)
        assert len(receiver.wait_for(lambda s: len(s) >= 1)) == 1


class _Collector:
    """A context manager giving the endpoint of a collector with the named fault."""

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self._inner: Any = None

    def __enter__(self) -> str:
        if self.fault == "down":
            return f"http://127.0.0.1:{free_port()}/v1/traces"
        if self.fault == "refusing":
            self._inner = OtlpReceiver(mode="fail").start()
            return str(self._inner.endpoint)
        if self.fault == "blackholed":
            self._inner = Blackhole().__enter__()
            return str(self._inner.endpoint)
        self._inner = OtlpReceiver(mode="slow", delay=2.0).start()
        return str(self._inner.endpoint)

    def __exit__(self, *exc: object) -> None:
        if isinstance(self._inner, OtlpReceiver):
            self._inner.stop()
        elif isinstance(self._inner, Blackhole):
            self._inner.__exit__()


def test_sdk_spans_share_the_queue_and_the_encoder(receiver: OtlpReceiver, start_tracing: Any) -> None:
    """Spans from the SDK tracer (HTTP-client instrumentations, user code) are exported with ours."""
    from opentelemetry import trace

    start_tracing(receiver.endpoint, span_schedule_delay=0.05)
    request = RequestFactory().get("/ok/")
    handle = tracing.start_request(request)
    with trace.get_tracer("shop.checkout", "2.0").start_as_current_span("charge card") as span:
        span.set_attribute("amount", 12.5)
        span.add_event("retry", {"attempt": 2})
    tracing.finish_request(handle, request, "ok/", 200, None)
    tracing.force_flush(10)
    spans = {s.name: s for s in receiver.wait_for(lambda s: len(s) >= 2)}
    charge = spans["charge card"]
    assert charge.scope == "shop.checkout"
    assert charge.attributes == {"amount": 12.5}
    assert charge.events == [("retry", {"attempt": 2})]
    assert charge.parent_span_id == spans["GET ok/"].span_id
    assert charge.resource == spans["GET ok/"].resource  # this process's pid and instance id


def test_template_spans_only_when_asked() -> None:
    from django.template import Context, Engine, Template

    from instrumentation.tracing.testing import capture_spans

    engine = Engine()

    for enabled in (False, True):
        with capture_spans(trace_templates=enabled) as exporter:
            request = RequestFactory().get("/ok/")
            handle = tracing.start_request(request)
            assert Template("hello {{ name }}", engine=engine).render(Context({"name": "x"})) == "hello x"
            tracing.finish_request(handle, request, "ok/", 200, None)
        names = [s.name for s in exporter.get_finished_spans()]
        assert ("render template" in names) is enabled
    assert not hasattr(Template.render, "__wrapped__")


def test_grpc_export_when_chosen(start_tracing: Any) -> None:
    from tests.tracing.receiver import GrpcReceiver

    with GrpcReceiver() as grpc_receiver:
        # The generic OTLP endpoint gets /v1/traces appended by the settings; gRPC ignores the path.
        start_tracing(grpc_receiver.endpoint + "/v1/traces", otlp_protocol="grpc", span_schedule_delay=0.05)
        response = Client().get("/ok/")
        assert tracing.force_flush(15)
        deadline = time.monotonic() + 10
        while not grpc_receiver.spans and time.monotonic() < deadline:
            time.sleep(0.05)
        (span,) = grpc_receiver.spans
        tracing.shutdown()
    assert span.name == "GET ok/"
    assert span.trace_id == response["X-Trace-Id"]
    assert span.resource["service.name"] == "tests"
