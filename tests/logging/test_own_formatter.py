"""A team keeps its own formatter and still gets trace, request and service fields.

Each formatter is set up as ``docs/logging.md`` shows (python-json-logger's ``JsonFormatter``,
ecs-logging's ``StdlibFormatter`` and ``StructlogFormatter``, a plain ``%(...)s`` format, a
structlog ``JSONRenderer``), with the project's own pipeline off (``LOGGING_CONFIGURE`` false),
and requests go through the real middleware: every line written while a request is served
names that request's server span.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from django.test import Client, RequestFactory

from instrumentation import logging as fleet_logging
from instrumentation.logging import ContextFilter, ContextProcessor
from instrumentation.tracing.testing import capture_spans
from tests.support.procs import in_ci

pytestmark = pytest.mark.urls("tests.logging.own_formatter_urls")

# Successful, returned-error, raised-error and unrouted requests: Django logs the error ones on
# ``django.request``, the view logs on ``shop.views``, the middleware writes the access line.
REQUESTS = [
    ("/items/7/", 200),
    ("/returned/404/", 404),
    ("/returned/500/", 500),
    ("/missing/", 404),
    ("/boom/", 500),
    ("/no/such/route/", 404),
]
TEXT_FORMAT = (
    "%(levelname)s %(name)s trace=%(trace_id)s span=%(span_id)s request=%(request_id)s "
    "service=%(service_name)s env=%(service_environment)s %(message)s"
)


def _optional(module: str) -> Any:
    """A formatter package of the dev set: required in CI, skipped locally when absent."""
    if in_ci():
        return __import__(module, fromlist=["_"])
    return pytest.importorskip(module)


class OwnHandler:
    """A stream handler with the team's formatter and the filter, on the root logger."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def raw_lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw_lines()]

    def clear(self) -> None:
        self.stream.seek(0)
        self.stream.truncate()


@pytest.fixture
def own_handler() -> Iterator[Callable[..., OwnHandler]]:
    root = logging.getLogger()
    saved_level = root.level
    added: list[logging.Handler] = []

    def install(formatter: logging.Formatter, **filter_options: Any) -> OwnHandler:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handler.addFilter(ContextFilter(**filter_options))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        added.append(handler)
        return OwnHandler(stream)

    yield install
    for handler in added:
        root.removeHandler(handler)
    root.setLevel(saved_level)


def _serve(client: Client, own: OwnHandler, path: str, status: int) -> tuple[Any, list[str]]:
    """Serve one request; its server span and the lines written while it was served."""
    own.clear()
    with capture_spans() as spans:
        assert client.get(path).status_code == status
    (server,) = [s for s in spans.get_finished_spans() if s.kind.name == "SERVER"]
    return server, own.raw_lines()


def _hex(server: Any) -> tuple[str, str]:
    return format(server.context.trace_id, "032x"), format(server.context.span_id, "016x")


@pytest.mark.parametrize(("path", "status"), REQUESTS)
def test_python_json_logger_lines_carry_the_server_span_trace_id(
    own_handler: Callable[..., OwnHandler], path: str, status: int
) -> None:
    from pythonjsonlogger.json import JsonFormatter

    own = own_handler(JsonFormatter("{levelname}{name}{message}", style="{"))
    server, raw = _serve(Client(raise_request_exception=False), own, path, status)
    trace_id, span_id = _hex(server)
    lines = [json.loads(line) for line in raw]
    loggers = {line["name"] for line in lines}
    assert "fleetobs.access" in loggers
    if status >= 400:
        assert "django.request" in loggers
    for line in lines:
        assert line["trace.id"] == trace_id, line
        assert line["transaction.id"] == span_id
        assert line["service.name"] == "tests"
        assert line["service.version"] == "1.2.3"
        assert line["service.environment"] == "test"
    assert len({line["http.request.id"] for line in lines}) == 1
    (access,) = [line for line in lines if line["name"] == "fleetobs.access"]
    assert access["span.id"] == span_id


@pytest.mark.parametrize(("path", "status"), REQUESTS)
def test_ecs_logging_lines_carry_the_server_span_trace_id(
    own_handler: Callable[..., OwnHandler], path: str, status: int
) -> None:
    ecs_logging = _optional("ecs_logging")
    # Django's records carry the HttpRequest object: ecs-logging would serialise its repr.
    own = own_handler(ecs_logging.StdlibFormatter(exclude_fields=["request"]))
    server, raw = _serve(Client(raise_request_exception=False), own, path, status)
    trace_id, span_id = _hex(server)
    lines = [json.loads(line) for line in raw]
    assert len(lines) >= (2 if status >= 400 else 1)
    for line in lines:
        assert line["trace"]["id"] == trace_id, line
        assert line["transaction"]["id"] == span_id
        assert line["service"] == {"name": "tests", "version": "1.2.3", "environment": "test"}
        assert line["process"]["pid"] > 0  # ecs-logging's own fields are kept
    assert len({line["http"]["request"]["id"] for line in lines}) == 1


def test_plain_text_format_names_the_fields(
    own_handler: Callable[..., OwnHandler], capsys: pytest.CaptureFixture[str]
) -> None:
    own = own_handler(logging.Formatter(TEXT_FORMAT), style="flat")
    server, raw = _serve(Client(), own, "/returned/404/", 404)
    trace_id, _ = _hex(server)
    request_lines = [line for line in raw if line.split()[1] in {"shop.views", "django.request"}]
    assert len(request_lines) == 2
    for line in request_lines:
        assert f"trace={trace_id} " in line
        assert " service=tests env=test " in line
        assert "request= " not in line
    own.clear()
    logging.getLogger("shop.jobs").warning("outside any request")
    assert own.raw_lines() == [
        "WARNING shop.jobs trace= span= request= service=tests env=test outside any request"
    ]
    assert "Logging error" not in capsys.readouterr().err


def test_fields_the_record_has_are_kept(own_handler: Callable[..., OwnHandler]) -> None:
    from pythonjsonlogger.json import JsonFormatter

    own = own_handler(JsonFormatter("{message}", style="{"))
    token = fleet_logging.begin_request(RequestFactory().get("/x"), "rid-1", ("a" * 32, "b" * 16))
    try:
        logging.getLogger("shop").info("mine", extra={"trace.id": "c" * 32, "service.name": "billing"})
    finally:
        fleet_logging.finish_request(token, RequestFactory().get("/x"), _quiet_info())
    (line,) = [line for line in own.lines() if line["message"] == "mine"]
    assert line["trace.id"] == "c" * 32
    assert line["service.name"] == "billing"
    assert line["span.id"] == "b" * 16
    assert line["http.request.id"] == "rid-1"


def test_a_task_line_carries_the_task_fields(own_handler: Callable[..., OwnHandler]) -> None:
    from pythonjsonlogger.json import JsonFormatter

    own = own_handler(JsonFormatter("{message}", style="{"))
    token = fleet_logging.begin_task("shop.tasks.send_receipt", "task-7")
    try:
        logging.getLogger("shop.tasks").info("sent")
    finally:
        fleet_logging.finish_task(token)
    (line,) = own.lines()
    assert line["task.name"] == "shop.tasks.send_receipt"
    assert line["task.id"] == "task-7"
    assert "trace.id" not in line
    assert "http.request.id" not in line


def test_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="'dotted'"):
        ContextFilter(style="dotted")
    with pytest.raises(ValueError, match="'dotted'"):
        ContextProcessor(style="dotted")


def _quiet_info() -> Any:
    from instrumentation._request import RequestInfo

    return RequestInfo("GET", "x", 200, 1, 0, 0, "rid-1")


@pytest.fixture
def structlog_output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    structlog.reset_defaults()


def test_structlog_processor_with_json_renderer(structlog_output: io.StringIO) -> None:
    structlog.configure(
        processors=[ContextProcessor(), structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(structlog_output),
        cache_logger_on_first_use=False,
    )
    request = RequestFactory().get("/orders/")
    token = fleet_logging.begin_request(request, "rid-2", ("d" * 32, "e" * 16))
    try:
        structlog.get_logger().info("order placed", order_id=3)
    finally:
        fleet_logging.finish_request(token, request, _quiet_info())
    line = json.loads(structlog_output.getvalue())
    assert line["event"] == "order placed"
    assert line["trace.id"] == "d" * 32
    assert line["http.request.id"] == "rid-2"
    assert line["service.name"] == "tests"


def test_structlog_processor_with_ecs_logging(structlog_output: io.StringIO) -> None:
    ecs_logging = _optional("ecs_logging")
    structlog.configure(
        processors=[ContextProcessor(), ecs_logging.StructlogFormatter()],
        logger_factory=structlog.PrintLoggerFactory(structlog_output),
        cache_logger_on_first_use=False,
    )
    request = RequestFactory().get("/orders/")
    token = fleet_logging.begin_request(request, "rid-3", ("f" * 32, "1" * 16))
    try:
        structlog.get_logger().info("order placed")
    finally:
        fleet_logging.finish_request(token, request, _quiet_info())
    line = json.loads(structlog_output.getvalue())
    assert line["trace"] == {"id": "f" * 32}
    assert line["service"]["name"] == "tests"
    assert line["http"]["request"]["id"] == "rid-3"


def test_structlog_processor_in_a_foreign_pre_chain_reads_django_request(
    own_handler: Callable[..., OwnHandler],
) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        processor=structlog.processors.JSONRenderer(),
        foreign_pre_chain=[ContextProcessor(style="flat")],
    )
    own = own_handler(formatter)
    server, raw = _serve(Client(), own, "/returned/404/", 404)
    trace_id, _ = _hex(server)
    lines = [json.loads(line) for line in raw]
    (django_line,) = [line for line in lines if line["event"].startswith("Not Found")]
    assert django_line["trace_id"] == trace_id
    assert django_line["service_name"] == "tests"
