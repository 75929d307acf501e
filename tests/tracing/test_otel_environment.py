"""Every ``OTEL_*`` variable that applies to traces and resources, set one at a time, with its
effect observed where a user would see it: at a real OTLP receiver (or on stdout, for the
console exporter). ``docs/configuration.md`` lists the same variables, and those not supported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from django.test import RequestFactory, override_settings

from instrumentation import conf, tracing
from tests.tracing.receiver import OtlpReceiver, ReceivedSpan

PATH = "/ok/a-fairly-long-path-for-length-limits/"


@dataclass
class Outcome:
    receiver: OtlpReceiver
    spans: list[ReceivedSpan]
    stdout: str
    flush_seconds: float
    trace_id: str | None

    @property
    def server(self) -> ReceivedSpan:
        (server,) = [s for s in self.spans if s.kind == "SERVER"]
        return server


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in list(os.environ):
        if name.startswith(("OTEL_", "FLEETOBS_")):
            monkeypatch.delenv(name)
    conf.reset()
    yield monkeypatch
    conf.reset()


def _request_with_events(spans: int = 1) -> str | None:
    """What the middleware does for one request, plus three events from application code."""
    factory = RequestFactory()
    trace_id = None
    for _ in range(spans):
        request = factory.get(PATH, HTTP_USER_AGENT="env-test")
        handle = tracing.start_request(request)
        for number in range(3):
            tracing.add_event(f"step {number}", {"n": number})
        tracing.finish_request(handle, request, "ok/<path>/", 200, None)
        trace_id = tracing.sampled_trace_id(handle) or (handle.trace_id_hex() if handle else None)
    return trace_id


def _run(
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    environment: dict[str, str],
    receiver: OtlpReceiver,
    spans: int = 1,
    wait: bool = True,
) -> Outcome:
    values = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint, **environment}
    for name, value in values.items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)
    conf.reset()
    tracing.reset()
    with override_settings(FLEET_OBSERVABILITY={"LOGGING_CONFIGURE": False}):
        conf.reset()
        trace_id = _request_with_events(spans)
        started = time.monotonic()
        tracing.force_flush(30)
        tracing.shutdown()
        flush_seconds = time.monotonic() - started
    # force_flush returned: whatever was exported has been received (the receiver answers after storing).
    received = receiver.wait_for(lambda s: len(s) >= spans, timeout=10 if wait else 0)
    return Outcome(receiver, received, capfd.readouterr().out, flush_seconds, trace_id)


def _attributes_at_most(limit: int) -> Callable[[Outcome], None]:
    def check(outcome: Outcome) -> None:
        assert len(outcome.server.attributes) == limit
        assert outcome.server.dropped_attributes > 0

    return check


def _path_cut_to(length: int) -> Callable[[Outcome], None]:
    def check(outcome: Outcome) -> None:
        assert outcome.server.attributes["url.path"] == PATH[:length]

    return check


def _nothing_exported(outcome: Outcome) -> None:
    assert outcome.receiver.requests == 0
    assert outcome.trace_id is not None  # ids are still made and propagated


CASES: dict[str, tuple[dict[str, str], Callable[[Outcome], None]]] = {
    "OTEL_SERVICE_NAME": (
        {"OTEL_SERVICE_NAME": "billing"},
        lambda o: _equal(o.server.resource["service.name"], "billing"),
    ),
    "OTEL_RESOURCE_ATTRIBUTES": (
        {"OTEL_RESOURCE_ATTRIBUTES": "service.name=my%20svc,team=a%2Cb,deployment.environment.name=qa"},
        lambda o: _equal(
            (
                o.server.resource["service.name"],
                o.server.resource["team"],
                o.server.resource["deployment.environment.name"],
            ),
            ("my svc", "a,b", "qa"),
        ),
    ),
    "OTEL_EXPORTER_OTLP_ENDPOINT": (
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "", "OTEL_EXPORTER_OTLP_ENDPOINT": "{base}"},
        lambda o: _equal(len(o.spans), 1),
    ),
    "OTEL_EXPORTER_OTLP_HEADERS": (
        {"OTEL_EXPORTER_OTLP_HEADERS": "x-team=payments,authorization=Bearer%20t0ken"},
        lambda o: _equal(
            (o.receiver.store.headers[0]["x-team"], o.receiver.store.headers[0]["authorization"]),
            ("payments", "Bearer t0ken"),
        ),
    ),
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS": (
        {"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-team=orders"},
        lambda o: _equal(o.receiver.store.headers[0]["x-team"], "orders"),
    ),
    "OTEL_EXPORTER_OTLP_COMPRESSION": (
        {"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
        lambda o: _equal((o.receiver.store.headers[0].get("content-encoding"), len(o.spans)), ("gzip", 1)),
    ),
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": (
        {"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip"},
        lambda o: _equal(o.receiver.store.headers[0].get("content-encoding"), "gzip"),
    ),
    "OTEL_EXPORTER_OTLP_PROTOCOL": (
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
        lambda o: _equal(o.receiver.store.headers[0]["content-type"], "application/x-protobuf"),
    ),
    "OTEL_TRACES_EXPORTER=none": ({"OTEL_TRACES_EXPORTER": "none"}, _nothing_exported),
    "OTEL_TRACES_EXPORTER=console": (
        {"OTEL_TRACES_EXPORTER": "console"},
        lambda o: _equal((o.receiver.requests, '"name": "GET ok/<path>/"' in o.stdout), (0, True)),
    ),
    "OTEL_TRACES_EXPORTER=otlp,console": (
        {"OTEL_TRACES_EXPORTER": "otlp,console"},
        lambda o: _equal((len(o.spans), '"kind": "SpanKind.SERVER"' in o.stdout), (1, True)),
    ),
    "OTEL_TRACES_SAMPLER": ({"OTEL_TRACES_SAMPLER": "always_off"}, _nothing_exported),
    "OTEL_TRACES_SAMPLER_ARG": (
        {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"},
        _nothing_exported,
    ),
    "OTEL_SDK_DISABLED": ({"OTEL_SDK_DISABLED": "true"}, lambda o: _equal(o.receiver.requests, 0)),
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": (
        {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2", "OTEL_BSP_SCHEDULE_DELAY": "60000"},
        lambda o: _equal((len(o.spans), o.receiver.requests), (5, 3)),
    ),
    "OTEL_BSP_MAX_QUEUE_SIZE": (
        {"OTEL_BSP_MAX_QUEUE_SIZE": "3", "OTEL_BSP_SCHEDULE_DELAY": "60000"},
        lambda o: _less(len(o.spans), 50),
    ),
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": ({"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "3"}, _attributes_at_most(3)),
    "OTEL_ATTRIBUTE_COUNT_LIMIT": ({"OTEL_ATTRIBUTE_COUNT_LIMIT": "4"}, _attributes_at_most(4)),
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": (
        {"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "8"},
        _path_cut_to(8),
    ),
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": ({"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "12"}, _path_cut_to(12)),
    "OTEL_SPAN_EVENT_COUNT_LIMIT": (
        {"OTEL_SPAN_EVENT_COUNT_LIMIT": "1"},
        lambda o: _equal(([name for name, _ in o.server.events], o.server.dropped_events), (["step 0"], 2)),
    ),
    "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT": (
        {"OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT": "0"},
        lambda o: _equal([attributes for _, attributes in o.server.events], [{}, {}, {}]),
    ),
}


def _equal(actual: object, expected: object) -> None:
    assert actual == expected


def _less(actual: int, bound: int) -> None:
    assert actual < bound


@pytest.mark.parametrize("variable", list(CASES))
def test_otel_variable_takes_effect(
    variable: str, clean_environment: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    environment, check = CASES[variable]
    spans = 5 if "BATCH_SIZE" in variable else 50 if "QUEUE_SIZE" in variable else 1
    with OtlpReceiver() as receiver:
        base = receiver.endpoint.removesuffix("/v1/traces")
        environment = {name: value.replace("{base}", base) for name, value in environment.items()}
        outcome = _run(clean_environment, capfd, environment, receiver, spans=spans, wait=False)
    check(outcome)


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_BSP_EXPORT_TIMEOUT"]
)
def test_export_timeout_variables_bound_a_slow_collector(
    variable: str, clean_environment: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The collector takes 20 s to answer; with a 500 ms timeout the export gives up long before."""
    slow = OtlpReceiver(mode="slow", delay=20.0).start()
    try:
        outcome = _run(clean_environment, capfd, {variable: "500"}, slow, wait=False)
        assert slow.requests >= 1  # the export reached the collector
    finally:
        slow.stop()
    assert outcome.spans == []
    assert outcome.flush_seconds < 10


def test_bsp_schedule_delay_exports_without_a_flush(
    clean_environment: pytest.MonkeyPatch, receiver: OtlpReceiver
) -> None:
    clean_environment.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.endpoint)
    clean_environment.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    with override_settings(FLEET_OBSERVABILITY={"LOGGING_CONFIGURE": False}):
        conf.reset()
        assert conf.get_settings().span_schedule_delay == 0.05
        _request_with_events()
        spans = receiver.wait_for(lambda s: len(s) >= 1, timeout=20)
    assert len(spans) == 1


def test_an_invalid_variable_is_a_system_check_error(clean_environment: pytest.MonkeyPatch) -> None:
    from instrumentation import checks

    clean_environment.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "lots")
    clean_environment.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with override_settings(FLEET_OBSERVABILITY={"LOGGING_CONFIGURE": False}):
        conf.reset()
        errors = {m.msg.split("]")[0] for m in checks.check_settings() if m.id == "fleetobs.E003"}
    assert errors == {"FLEET_OBSERVABILITY['SPAN_QUEUE_SIZE'", "FLEET_OBSERVABILITY['TRACES_EXPORTER'"}
