"""Server and child spans made through the real middleware (Django test client, spans in memory)."""

from __future__ import annotations

import dataclasses

import pytest
from django.test import Client, RequestFactory, override_settings
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from instrumentation import conf, tracing
from instrumentation.tracing import provider
from instrumentation.tracing.testing import capture_spans
from tests.project.models import Author, Book

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


def _server(exporter: InMemorySpanExporter) -> ReadableSpan:
    servers = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert len(servers) == 1, servers
    return servers[0]


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def test_server_span_name_kind_and_attributes(spans: InMemorySpanExporter) -> None:
    response = Client().get("/items/7/", HTTP_USER_AGENT="pytest-agent", HTTP_HOST="shop.example:8443")
    assert response.status_code == 200
    span = _server(spans)
    assert span.name == "GET items/<int:pk>/"
    assert span.kind is SpanKind.SERVER
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "http.route": "items/<int:pk>/",
        "http.response.status_code": 200,
        "url.path": "/items/7/",
        "url.scheme": "http",
        "client.address": "127.0.0.1",
        "user_agent.original": "pytest-agent",
        "server.address": "shop.example",
        "server.port": 8443,
        "network.protocol.version": "1.1",
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.parent is None
    assert response["X-Trace-Id"] == _hex(span.context.trace_id, 32)


def test_resource_describes_the_service_and_process(spans: InMemorySpanExporter) -> None:
    import os

    Client().get("/ok/")
    resource = dict(_server(spans).resource.attributes)
    assert resource["service.name"] == "tests"
    assert resource["service.version"] == "1.2.3"
    assert resource["deployment.environment.name"] == "test"
    assert resource["process.pid"] == os.getpid()
    assert resource["host.name"]
    assert len(str(resource["service.instance.id"])) == 36


def test_resource_keeps_other_otel_resource_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=shop-1,team=pay%20ments,service.name=ignored"
    )
    with capture_spans() as exporter:
        Client().get("/ok/")
    resource = dict(_server(exporter).resource.attributes)
    assert resource["k8s.pod.name"] == "shop-1"
    assert resource["team"] == "pay ments"
    assert resource["service.name"] == "tests"  # FLEET_OBSERVABILITY wins over the environment


def test_unmatched_route_is_named_by_method_only(spans: InMemorySpanExporter) -> None:
    assert Client().get("/no/such/page/").status_code == 404
    span = _server(spans)
    assert span.name == "GET"
    assert "http.route" not in (span.attributes or {})
    assert span.status.status_code is StatusCode.UNSET


def test_unknown_method_is_other(spans: InMemorySpanExporter) -> None:
    Client().generic("FROB", "/ok/")
    span = _server(spans)
    assert span.name == "HTTP ok/"
    assert span.attributes is not None
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "FROB"


def test_view_exception_is_an_error_with_an_exception_event(spans: InMemorySpanExporter) -> None:
    client = Client(raise_request_exception=False)
    assert client.get("/boom/").status_code == 500
    span = _server(spans)
    assert span.name == "GET boom/"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ValueError"
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "boom"
    assert "Traceback" in str(event.attributes["exception.stacktrace"])


@pytest.mark.parametrize("path", ["/missing/", "/forbidden/"])
def test_http404_and_permission_denied_are_not_errors(spans: InMemorySpanExporter, path: str) -> None:
    response = Client().get(path)
    assert response.status_code in {403, 404}
    span = _server(spans)
    assert span.status.status_code is StatusCode.UNSET
    assert not span.events


def test_valid_traceparent_continues_the_trace(spans: InMemorySpanExporter) -> None:
    response = Client().get(
        "/ok/", HTTP_TRACEPARENT=f"00-{TRACE_ID}-{PARENT_ID}-01", HTTP_TRACESTATE="vendor=abc,other=1"
    )
    span = _server(spans)
    assert _hex(span.context.trace_id, 32) == TRACE_ID
    assert span.parent is not None
    assert _hex(span.parent.span_id, 16) == PARENT_ID
    assert span.parent.is_remote
    assert span.context.trace_state.to_header() == "vendor=abc,other=1"
    assert response["X-Trace-Id"] == TRACE_ID


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",
        f"ff-{TRACE_ID}-{PARENT_ID}-01",
        f"00-{'0' * 32}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"00-{TRACE_ID}-{PARENT_ID}-01-extra",
        f"00-{TRACE_ID}-{PARENT_ID}-01," * 3,
        "00-" + "a" * 5000,
        "\x1b[31m00-evil\r\n",
    ],
)
def test_malformed_traceparent_starts_a_new_trace(spans: InMemorySpanExporter, header: str) -> None:
    response = Client().get("/ok/", HTTP_TRACEPARENT=header, HTTP_TRACESTATE="a=b", HTTP_BAGGAGE="x" * 20000)
    assert response.status_code == 200
    span = _server(spans)
    assert span.parent is None
    assert _hex(span.context.trace_id, 32) != TRACE_ID
    assert response["X-Trace-Id"] == _hex(span.context.trace_id, 32)


def test_baggage_reaches_the_request_context(spans: InMemorySpanExporter) -> None:
    from django.test import RequestFactory
    from opentelemetry import baggage

    request = RequestFactory().get("/ok/", HTTP_BAGGAGE="user.tier=gold,bad key=1,region=eu%2Dwest;prop=1")
    handle = tracing.start_request(request)
    try:
        assert dict(baggage.get_all()) == {"user.tier": "gold", "region": "eu-west"}
    finally:
        tracing.finish_request(handle, request, "ok/", 200, None)
    assert dict(baggage.get_all()) == {}


@pytest.mark.django_db
def test_database_spans_are_children_of_the_request(spans: InMemorySpanExporter) -> None:
    author = Author.objects.create(name="A")
    for title in "xyz":
        Book.objects.create(title=title, author=author)
    spans.clear()
    Client().get("/books/n-plus-one/")
    server = _server(spans)
    queries = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert len(queries) == 4  # the books, then one author per book
    for query in queries:
        assert query.parent is not None
        assert query.parent.span_id == server.context.span_id
        assert query.context.trace_id == server.context.trace_id
        assert query.attributes is not None
        assert query.attributes["db.system"] == "sqlite"
        assert query.attributes["db.operation.name"] == "SELECT"
        assert "db.query.text" in query.attributes
        assert query.name.startswith("SELECT ")


@pytest.mark.django_db
def test_n_plus_one_becomes_a_span_event() -> None:
    author = Author.objects.create(name="A")
    for index in range(8):
        Book.objects.create(title=str(index), author=author)
    with capture_spans() as exporter:
        Client().get("/books/n-plus-one/")
        Client().get("/books/joined/")
    servers = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    events = {s.name: [e.name for e in s.events] for s in servers}
    assert events["GET books/n-plus-one/"] == ["n_plus_one"]
    assert events["GET books/joined/"] == []


@pytest.mark.django_db
def test_trace_db_off_makes_no_query_spans() -> None:
    with capture_spans(trace_db=False) as exporter:
        Client().get("/books/joined/")
    assert [s.kind for s in exporter.get_finished_spans()] == [SpanKind.SERVER]


def test_cache_spans(spans: InMemorySpanExporter) -> None:
    Client().get("/cached/")
    names = [s.name for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert names
    assert all(n.startswith("cache.") for n in names)


def test_async_view_is_traced(spans: InMemorySpanExporter) -> None:
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    response = async_to_sync(AsyncClient().get)("/async/ok/")
    assert response.status_code == 200
    span = _server(spans)
    assert span.name == "GET async/ok/"
    assert response["X-Trace-Id"] == _hex(span.context.trace_id, 32)


def test_ratio_zero_records_nothing_but_keeps_ids() -> None:
    with capture_spans(traces_sampler="traceidratio", traces_sampler_arg=0.0) as exporter:
        response = Client().get("/cached/")
    assert exporter.get_finished_spans() == ()
    assert len(response["X-Trace-Id"]) == 32


def test_parent_based_follows_an_unsampled_parent() -> None:
    with capture_spans() as exporter:
        response = Client().get("/ok/", HTTP_TRACEPARENT=f"00-{TRACE_ID}-{PARENT_ID}-00")
    assert exporter.get_finished_spans() == ()
    assert response["X-Trace-Id"] == TRACE_ID


def test_always_on_ignores_an_unsampled_parent() -> None:
    with capture_spans(traces_sampler="always_on") as exporter:
        Client().get("/ok/", HTTP_TRACEPARENT=f"00-{TRACE_ID}-{PARENT_ID}-00")
    assert len(exporter.get_finished_spans()) == 1


def test_response_header_name_is_configurable() -> None:
    with capture_spans(trace_id_response_header="Trace-Ref"):
        response = Client().get("/ok/")
    assert "X-Trace-Id" not in response
    assert len(response["Trace-Ref"]) == 32


def test_current_ids_and_sampled_trace_id_inside_a_request(spans: InMemorySpanExporter) -> None:
    from django.test import RequestFactory

    request = RequestFactory().get("/ok/")
    handle = tracing.start_request(request)
    ids = tracing.current_ids()
    assert ids is not None
    assert tracing.sampled_trace_id(handle) == ids[0]
    child = tracing.start_span("SELECT test", {"db.system": "sqlite"})
    child_ids = tracing.current_ids()
    assert child_ids is not None
    assert child_ids[0] == ids[0]
    assert child_ids[1] != ids[1]
    tracing.end_span(child)
    assert tracing.current_ids() == ids
    tracing.finish_request(handle, request, "ok/", 200, None)
    assert tracing.current_ids() is None


def test_nothing_happens_when_tracing_is_disabled() -> None:
    client = Client()
    response = client.get("/ok/")  # tests.settings has TRACING_ENABLED False
    assert "X-Trace-Id" not in response
    assert tracing.start_span("x", {}) is None
    assert tracing.current_ids() is None


@override_settings(
    FLEET_OBSERVABILITY={"SERVICE_NAME": "svc", "TRACING_ENABLED": True, "LOGGING_CONFIGURE": False}
)
def test_a_user_sdk_provider_is_used_as_is() -> None:
    exporter = InMemorySpanExporter()
    theirs = TracerProvider()
    theirs.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(theirs)
    try:
        conf.reset()
        Client().get("/cached/", HTTP_TRACEPARENT=f"00-{TRACE_ID}-{PARENT_ID}-01")
        state = provider.state()
        assert state is not None
        assert state.provider is theirs
        finished = exporter.get_finished_spans()
        server = _server(exporter)
        assert server.name == "GET cached/"
        assert _hex(server.context.trace_id, 32) == TRACE_ID
        children = [s for s in finished if s.kind is SpanKind.CLIENT]
        assert children
        assert all(c.parent is not None and c.parent.span_id == server.context.span_id for c in children)
    finally:
        provider._restore_global_provider()


def test_user_code_spans_nest_under_the_request(spans: InMemorySpanExporter) -> None:
    from django.test import RequestFactory

    request = RequestFactory().get("/ok/")
    handle = tracing.start_request(request)
    with trace.get_tracer("user").start_as_current_span("work") as work:
        work.set_attribute("answer", 42)
    tracing.finish_request(handle, request, "ok/", 200, None)
    finished = {s.name: s for s in spans.get_finished_spans()}
    assert finished["work"].parent is not None
    assert finished["work"].parent.span_id == finished["GET ok/"].context.span_id


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_off")
    conf.reset()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    conf.reset()
    settings = dataclasses.replace(conf.get_settings(), tracing_enabled=True)
    assert settings.otlp_endpoint == "http://collector:4318/v1/traces"
    state = provider.setup(settings)
    assert state is not None
    assert state.sampler.name == "parentbased_always_off"
    assert state.sampler.ratio == 0.0


def test_without_an_endpoint_nothing_is_recorded_but_ids_flow() -> None:
    settings = dataclasses.replace(conf.get_settings(), tracing_enabled=True, otlp_endpoint=None)
    state = provider.setup(settings)
    assert state is not None
    assert not state.record
    request = RequestFactory().get("/ok/", HTTP_TRACEPARENT=f"00-{TRACE_ID}-{PARENT_ID}-01")
    handle = tracing.start_request(request)
    assert not handle.span.is_recording()
    assert tracing.sampled_trace_id(handle) == TRACE_ID  # exemplars still get the id
    assert tracing.start_span("SELECT x", {"db.system": "sqlite"}) is None
    tracing.finish_request(handle, request, "ok/", 200, None)
    response = Client().get("/ok/", HTTP_TRACEPARENT=f"00-{TRACE_ID}-{PARENT_ID}-01")
    assert response["X-Trace-Id"] == TRACE_ID
    assert state.batcher is not None
    assert state.batcher.queued() == 0


def test_exception_messages_are_redacted(spans: InMemorySpanExporter) -> None:
    from django.test import RequestFactory

    request = RequestFactory().get("/ok/")
    handle = tracing.start_request(request)
    try:
        raise RuntimeError("login failed password=hunter2 for user")
    except RuntimeError as exc:
        tracing.record_exception(handle, exc)
    tracing.finish_request(handle, request, "ok/", 500, None)
    (event,) = _server(spans).events
    assert event.attributes is not None
    assert "hunter2" not in str(event.attributes["exception.message"])
    assert "hunter2" not in str(event.attributes["exception.stacktrace"])
    assert "login failed" in str(event.attributes["exception.message"])


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/readyz"])
def test_probes_and_scrapes_are_not_recorded(spans: InMemorySpanExporter, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 200
    assert spans.get_finished_spans() == ()
    assert len(response["X-Trace-Id"]) == 32


def test_internal_errors_never_reach_the_view(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from instrumentation import _safety
    from instrumentation.tracing import server

    def broken(*args: object) -> None:
        raise RuntimeError("tracing bug")

    monkeypatch.setattr(server, "start_request", broken)
    monkeypatch.setattr(server, "finish_request", broken)
    with pytest.raises(RuntimeError, match="tracing bug"):  # tests see the bug...
        Client().get("/ok/")
    monkeypatch.setattr(_safety, "RAISE_INTERNAL_ERRORS", False)
    response = Client().get("/ok/")  # ...users never do
    assert response.status_code == 200
    assert spans.get_finished_spans() == ()


def test_a_host_django_rejects_never_becomes_server_address(spans: InMemorySpanExporter) -> None:
    from django.test import override_settings

    with override_settings(ALLOWED_HOSTS=["shop.example"]):
        response = Client().get("/items/7/", HTTP_HOST="evil.example\r\nX-Injected: 1")
    assert response.status_code == 400  # DisallowedHost
    span = _server(spans)
    assert "evil" not in str(span.attributes.get("server.address"))
    assert span.attributes.get("server.address") == "testserver"
