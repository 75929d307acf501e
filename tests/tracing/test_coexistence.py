"""Living beside OpenTelemetry's own setup: its Django instrumentation, its provider, its processors.

* With ``DjangoInstrumentor`` active (what ``opentelemetry-instrument`` turns on) a request has
  exactly one SERVER span, in one trace: the instrumentor's, enriched by this project, with the
  database spans as its children.
* A span processor added to the global provider sees every span of the project, whether the
  provider is the application's or the one this project installed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client, override_settings
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from instrumentation import conf, tracing
from instrumentation.tracing import provider

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
SETTINGS = {"SERVICE_NAME": "svc", "TRACING_ENABLED": True, "LOGGING_CONFIGURE": False}


class Recorder(SpanProcessor):
    """A team's own processor: enriches on start, remembers every span it saw end."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.ended: list[ReadableSpan] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        span.set_attribute("team", "payments")
        self.started.append(span.name)

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


@pytest.fixture
def user_provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    theirs = TracerProvider()
    theirs.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(theirs)
    conf.reset()
    try:
        yield theirs, exporter
    finally:
        provider._restore_global_provider()


@pytest.fixture
def django_instrumentor(user_provider: tuple[TracerProvider, InMemorySpanExporter]) -> Iterator[None]:
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    instrumentor = DjangoInstrumentor()
    instrumentor.instrument(tracer_provider=user_provider[0])
    try:
        yield
    finally:
        instrumentor.uninstrument()


def _servers(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if s.kind is SpanKind.SERVER]


@override_settings(FLEET_OBSERVABILITY=SETTINGS)
@pytest.mark.django_db
@pytest.mark.usefixtures("django_instrumentor")
def test_django_instrumentor_one_server_span_one_trace(
    user_provider: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    from tests.project.models import Author

    Author.objects.create(name="a")
    response = Client().get("/books/joined/", HTTP_USER_AGENT="ua")
    assert response.status_code == 200
    finished = list(user_provider[1].get_finished_spans())
    (server,) = _servers(finished)
    assert {s.context.trace_id for s in finished} == {server.context.trace_id}
    assert server.name == "GET books/joined/"
    assert server.attributes["http.route"] == "books/joined/"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["user_agent.original"] == "ua"
    queries = [s for s in finished if s.kind is SpanKind.CLIENT]
    assert queries
    assert all(q.parent is not None and q.parent.span_id == server.context.span_id for q in queries)
    assert response["X-Trace-Id"] == format(server.context.trace_id, "032x")


@override_settings(FLEET_OBSERVABILITY=SETTINGS)
@pytest.mark.usefixtures("django_instrumentor")
def test_django_instrumentor_continues_the_callers_trace(
    user_provider: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    response = Client().get("/ok/", HTTP_TRACEPARENT=f"00-{TRACE_ID}-{PARENT_ID}-01")
    (server,) = _servers(list(user_provider[1].get_finished_spans()))
    assert format(server.context.trace_id, "032x") == TRACE_ID == response["X-Trace-Id"]
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == PARENT_ID


@override_settings(FLEET_OBSERVABILITY=SETTINGS)
@pytest.mark.django_db
def test_processor_on_the_global_provider_we_installed_sees_every_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/v1/traces")
    conf.reset()
    tracing.setup()
    recorder = Recorder()
    global_provider = trace.get_tracer_provider()
    assert global_provider is provider.state().provider  # type: ignore[union-attr]
    global_provider.add_span_processor(recorder)  # type: ignore[attr-defined]
    response = Client().get("/books/joined/")
    assert response.status_code == 200
    (server,) = _servers(recorder.ended)
    assert server.name == "GET books/joined/"
    assert server.attributes["team"] == "payments"
    queries = [s for s in recorder.ended if s.kind is SpanKind.CLIENT]
    assert queries
    assert all(q.parent.span_id == server.context.span_id for q in queries)  # type: ignore[union-attr]
    assert all(s.attributes["team"] == "payments" for s in recorder.ended)


@override_settings(FLEET_OBSERVABILITY=SETTINGS)
def test_processor_added_without_an_endpoint_still_sees_spans() -> None:
    """No OTLP endpoint: nothing of ours is exported, but a team's processor gets the spans."""
    conf.reset()
    tracing.setup()
    recorder = Recorder()
    trace.get_tracer_provider().add_span_processor(recorder)  # type: ignore[attr-defined]
    Client().get("/ok/")
    assert [s.name for s in _servers(recorder.ended)] == ["GET ok/"]


OTEL_MIDDLEWARE = "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware"
OURS = "instrumentation.middleware.ObservabilityMiddleware"


def _ids(messages: list[object]) -> list[str]:
    return [message.id for message in messages]  # type: ignore[attr-defined]


@override_settings(MIDDLEWARE=[OTEL_MIDDLEWARE, OURS], FLEET_OBSERVABILITY=SETTINGS)
def test_check_i001_says_the_instrumentors_span_is_used() -> None:
    from instrumentation import checks

    conf.reset()
    messages = checks.check_opentelemetry()
    assert _ids(messages) == ["fleetobs.I001"]
    assert "starts no second one" in messages[0].msg  # type: ignore[attr-defined]
    # Its middleware first is how opentelemetry-instrument sets it up: not a W001.
    assert checks.check_middleware() == []


@override_settings(MIDDLEWARE=[OURS], FLEET_OBSERVABILITY=SETTINGS)
def test_check_i001_silent_without_the_instrumentor() -> None:
    from instrumentation import checks

    conf.reset()
    assert checks.check_opentelemetry() == []


@override_settings(
    MIDDLEWARE=[OTEL_MIDDLEWARE, "django.middleware.common.CommonMiddleware", OURS],
    FLEET_OBSERVABILITY=SETTINGS,
)
def test_check_w001_still_fires_for_other_middleware_before_ours() -> None:
    from instrumentation import checks

    assert _ids(checks.check_middleware()) == ["fleetobs.W001"]
