"""Request context and the access line, through the real middleware and Django's test client."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import structlog
from django.contrib.auth.models import AnonymousUser
from django.test import Client, RequestFactory

from instrumentation import logging as fleet_logging
from instrumentation._request import RequestInfo
from instrumentation.logging import request_lines
from instrumentation.logging.testing import CapturedLogs
from instrumentation.tracing.testing import capture_spans


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


def test_access_line_fields(logs: CapturedLogs, client: Client) -> None:
    response = client.get(
        "/items/7/?page=2", HTTP_USER_AGENT="pytest-agent/1.0", HTTP_X_REQUEST_ID="req-abc.123"
    )
    assert response.status_code == 200
    (line,) = logs.access()
    assert line["message"] == "GET /items/7/ 200"
    assert line["log"]["level"] == "info"
    assert line["event"]["dataset"] == "django.access"
    assert isinstance(line["event"]["duration"], int)
    assert line["event"]["duration"] > 0
    assert line["http"]["route"] == "items/<int:pk>/"
    assert line["http"]["request"]["method"] == "GET"
    assert line["http"]["request"]["id"] == "req-abc.123" == response["X-Request-ID"]
    assert line["http"]["response"]["status_code"] == 200
    assert line["http"]["response"]["body"]["bytes"] == len(response.content)
    assert line["url"] == {"path": "/items/7/", "query": "page=2"}
    assert line["client"]["ip"] == "127.0.0.1"
    assert line["user_agent"]["original"] == "pytest-agent/1.0"
    assert "user" not in line


@pytest.mark.parametrize(
    ("path", "status", "level"),
    [
        ("/ok/", 200, "info"),
        ("/missing/", 404, "warning"),
        ("/forbidden/", 403, "warning"),
        ("/boom/", 500, "error"),
    ],
)
def test_access_level_follows_status(
    logs: CapturedLogs, client: Client, path: str, status: int, level: str
) -> None:
    assert client.get(path).status_code == status
    (line,) = logs.access()
    assert line["log"]["level"] == level
    assert line["http"]["response"]["status_code"] == status


def test_server_error_carries_error_fields_and_django_logs_the_trace(
    logs: CapturedLogs, client: Client
) -> None:
    client.get("/boom/")
    (access,) = logs.access()
    assert access["error"] == {"type": "ValueError", "message": "boom"}
    (django_line,) = logs.by_logger("django.request")
    assert django_line["log"]["level"] == "error"
    assert "raise ValueError" in django_line["error"]["stack_trace"]
    assert django_line["http"]["request"]["id"] == access["http"]["request"]["id"]


def test_every_line_in_a_request_carries_the_server_span_trace_id(logs: CapturedLogs, client: Client) -> None:
    with capture_spans() as spans:
        client.get("/boom/")
        client.get("/books/n-plus-one/")
    servers = [s for s in spans.get_finished_spans() if s.kind.name == "SERVER"]
    assert len(servers) == 2
    trace_ids = {format(s.context.trace_id, "032x") for s in servers}
    request_lines = [line for line in logs.lines() if "request" in line.get("http", {})]
    assert len(request_lines) >= 4  # two access lines, Django's error line, the N+1 warning
    assert {line["trace"]["id"] for line in request_lines} == trace_ids
    for line in logs.access():
        server = next(s for s in servers if format(s.context.trace_id, "032x") == line["trace"]["id"])
        assert line["span"]["id"] == format(server.context.span_id, "016x")


@pytest.mark.django_db
def test_n_plus_one_warning(logs: CapturedLogs, client: Client) -> None:
    from tests.project.models import Author, Book

    for index in range(6):
        Book.objects.create(title=f"b{index}", author=Author.objects.create(name=f"a{index}"))
    client.get("/books/n-plus-one/")
    (line,) = logs.by_logger("fleetobs.db")
    assert line["log"]["level"] == "warning"
    assert line["http"]["route"] == "books/n-plus-one/"
    assert line["db"]["query_count"] >= 5
    assert "SELECT" in line["db"]["statement"]


def test_lines_outside_requests_have_no_request_fields(logs: CapturedLogs, client: Client) -> None:
    client.get("/ok/")
    logging.getLogger("after").info("later")
    line = logs.by_logger("after")[0]
    assert "http" not in line
    assert "url" not in line
    assert "trace" not in line


def test_sampling_keeps_errors(configure_logs: Any, client: Client) -> None:
    captured = configure_logs(ACCESS_LOG_SAMPLE_RATE=0.0)
    for _ in range(5):
        client.get("/ok/")
    client.get("/missing/")
    client.get("/boom/")
    assert [line["http"]["response"]["status_code"] for line in captured.access()] == [404, 500]


@pytest.mark.django_db
def test_probes_and_scrapes_are_quiet_unless_they_fail(logs: CapturedLogs, client: Client) -> None:
    client.get("/healthz")
    client.get("/metrics")
    assert logs.access() == []
    token = fleet_logging.begin_request(RequestFactory().get("/healthz"), "rid")
    fleet_logging.finish_request(
        token, RequestFactory().get("/healthz"), RequestInfo("GET", "healthz", 503, 1, 0, 2, "rid")
    )
    assert [line["http"]["response"]["status_code"] for line in logs.access()] == [503]


def test_access_log_can_be_switched_off(configure_logs: Any, client: Client) -> None:
    captured = configure_logs(ACCESS_LOG=False)
    client.get("/ok/")
    assert captured.access() == []


def test_access_logger_level_is_honoured(logs: CapturedLogs, client: Client) -> None:
    access = logging.getLogger("fleetobs.access")
    access.setLevel(logging.WARNING)
    try:
        client.get("/ok/")
        client.get("/missing/")
    finally:
        access.setLevel(logging.NOTSET)
    assert [line["log"]["level"] for line in logs.access()] == ["warning"]


class _User:
    is_authenticated = True
    pk = 42


def _info(status: int = 200) -> RequestInfo:
    return RequestInfo("GET", "ok/", status, 1_500_000, 0, 2, "rid")


def test_user_id_only_when_already_loaded(logs: CapturedLogs) -> None:
    factory = RequestFactory()
    loaded = factory.get("/ok/")
    loaded._cached_user = _User()  # type: ignore[attr-defined]
    lazy = factory.get("/ok/")
    from django.utils.functional import SimpleLazyObject

    def explode() -> Any:
        raise AssertionError("the user must not be loaded by logging")

    lazy.user = SimpleLazyObject(explode)  # type: ignore[assignment]
    anonymous = factory.get("/ok/")
    anonymous.user = AnonymousUser()
    for request in (loaded, lazy, anonymous):
        token = fleet_logging.begin_request(request, "rid")
        fleet_logging.finish_request(token, request, _info())
    first, second, third = logs.access()
    assert first["user"] == {"id": "42"}
    assert "user" not in second
    assert "user" not in third


def test_context_is_unbound_after_finish(logs: CapturedLogs) -> None:
    request = RequestFactory().get("/ok/")
    token = fleet_logging.begin_request(request, "rid")
    assert request_lines.current_request() is not None
    structlog.get_logger("inside").info("in")
    fleet_logging.finish_request(token, request, _info())
    assert request_lines.current_request() is None
    inside = logs.by_logger("inside")[0]
    assert inside["http"]["request"]["id"] == "rid"


def test_access_line_without_the_pipeline_goes_to_stdlib(caplog: pytest.LogCaptureFixture) -> None:
    request = RequestFactory().get("/ok/?token=abc")
    with caplog.at_level(logging.INFO, logger="fleetobs.access"):
        token = fleet_logging.begin_request(request, "rid")
        fleet_logging.finish_request(token, request, _info(503))
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "GET /ok/ 503"
    assert getattr(record, "http.response.status_code") == 503
    assert getattr(record, "url.query") == "token=[REDACTED]"


def test_pii_masking_truncates_client_ip(configure_logs: Any) -> None:
    captured = configure_logs(PII_MASKING=True)
    request = RequestFactory().get("/ok/", REMOTE_ADDR="203.0.113.77")
    token = fleet_logging.begin_request(request, "rid")
    structlog.get_logger("pii").info("mail from alice@example.com at 198.51.100.23")
    fleet_logging.finish_request(token, request, _info())
    pii, access = captured.lines()
    assert access["client"]["ip"] == "203.0.113.0"
    assert "alice@example.com" not in pii["message"]
    assert "198.51.100.0" in pii["message"]


def test_invalid_remote_addr_is_left_out(logs: CapturedLogs) -> None:
    request = RequestFactory().get("/ok/", REMOTE_ADDR="unix:/tmp/gunicorn.sock")
    token = fleet_logging.begin_request(request, "rid")
    fleet_logging.finish_request(token, request, _info())
    (line,) = logs.access()
    assert "client" not in line


def test_async_view_lines_carry_context(logs: CapturedLogs) -> None:
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    async def run() -> int:
        response = await AsyncClient(raise_request_exception=False).get("/async/boom/")
        return int(response.status_code)

    assert async_to_sync(run)() == 500
    (access,) = logs.access()
    django_lines = logs.by_logger("django.request")
    assert django_lines
    assert django_lines[0]["http"]["request"]["id"] == access["http"]["request"]["id"]


def test_hostile_request_yields_escaped_bounded_lines(logs: CapturedLogs, client: Client) -> None:
    huge = "a=" + "x" * 200_000
    client.get(
        "/nowhere/%FF%FE\x1b[31m/?" + huge,
        HTTP_USER_AGENT="evil\r\nfake: line\x1b[2J\x00",
        HTTP_X_REQUEST_ID="bad id\nwith newline",
    )
    client.generic("BREW", "/ok/")
    client.get("/ok/", HTTP_USER_AGENT="\udcff-surrogate")
    for raw in logs.raw_lines():
        line = json.loads(raw)
        for value in _strings(line):
            assert not any(ord(c) < 0x20 for c in value if c not in "\n\t"), value
    first, brew, surrogate = logs.access()
    assert first["user_agent"]["original"] == "evil\\r\\nfake: line\\x1b[2J\\x00"
    assert len(first["url"]["query"]) < 2100
    assert first["url"]["query"].endswith("chars]")
    assert first["http"]["request"]["id"] != "bad id\nwith newline"  # invalid ids are replaced
    assert brew["http"]["request"]["method"] == "BREW"
    assert surrogate["user_agent"]["original"].endswith("-surrogate")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def test_access_line_cost_guard(logs: CapturedLogs) -> None:
    """A gross-regression guard only: the measured figure (a few µs) is in docs/logging.md."""
    import time

    request = RequestFactory().get("/items/5/?page=2", HTTP_USER_AGENT="Mozilla/5.0")
    info = RequestInfo("GET", "items/<int:pk>/", 200, 1_234_567, 0, 42, "rid")
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(500):
            fleet_logging.finish_request(fleet_logging.begin_request(request, "rid"), request, info)
        best = min(best, (time.perf_counter() - started) / 500 * 1e6)
        logs.clear()
    assert best < 200, f"{best:.1f} µs per request for context + access line"
