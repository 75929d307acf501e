"""The pipeline: structlog and stdlib lines come out as the same ECS JSON."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
import sys
import warnings
from typing import Any

import pytest
import structlog

from instrumentation import logging as fleet_logging
from instrumentation.catalog import LOG_FIELDS
from instrumentation.catalog.log_fields import ECS_VERSION
from instrumentation.logging import pipeline
from instrumentation.logging.testing import CapturedLogs

FIELDS = {f.name for f in LOG_FIELDS}


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and prefix != "labels":
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, item, out)
    else:
        out[prefix] = value


def flat(line: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _flatten("", line, out)
    return out


def test_stdlib_and_structlog_lines_have_the_same_shape(logs: CapturedLogs) -> None:
    logging.getLogger("shop.orders").warning("stock low for %s", "sku-1")
    structlog.get_logger("shop.orders").warning("stock low", sku="sku-1")
    stdlib, native = logs.lines()
    for line in (stdlib, native):
        fields = flat(line)
        assert fields["log.level"] == "warning"
        assert fields["log.logger"] == "shop.orders"
        assert fields["ecs.version"] == ECS_VERSION
        assert fields["service.name"] == "tests"
        assert fields["service.version"] == "1.2.3"
        assert fields["service.environment"] == "test"
        assert isinstance(fields["process.pid"], int)
        assert fields["host.name"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", fields["@timestamp"])
        assert fields["event.dataset"] == "django.log"
    assert stdlib["message"] == "stock low for sku-1"
    assert native["message"] == "stock low"
    assert native["labels"] == {"sku": "sku-1"}


def test_every_top_level_key_is_catalogued(logs: CapturedLogs) -> None:
    log = structlog.get_logger("x")
    log.info("bound", order=5, **{"user.id": "42", "http.route": "shop/"})
    logging.getLogger("django.request").error("boom", extra={"status_code": 500, "custom": [1, 2]})
    for line in logs.lines():
        assert set(flat(line)) <= FIELDS, set(flat(line)) - FIELDS
    first, second = logs.lines()
    assert first["user"]["id"] == "42"
    assert first["http"]["route"] == "shop/"
    assert first["labels"] == {"order": 5}
    assert second["http"]["response"]["status_code"] == 500
    assert second["labels"] == {"custom": [1, 2]}


def test_exceptions_fill_error_fields(logs: CapturedLogs) -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        logging.getLogger("a").exception("failed")
        structlog.get_logger("b").exception("failed too")
    for line in logs.lines():
        assert line["log"]["level"] == "error"
        assert line["error"]["type"] == "KeyError"
        assert line["error"]["message"] == "'missing'"
        assert "Traceback (most recent call last)" in line["error"]["stack_trace"]
        assert 'raise KeyError("missing")' in line["error"]["stack_trace"]


def test_django_request_logger_drops_the_request_object(logs: CapturedLogs) -> None:
    from django.test import RequestFactory

    request = RequestFactory().get("/x/?password=hunter2")
    logging.getLogger("django.request").error("Internal Server Error: %s", "/x/", extra={"request": request})
    (line,) = logs.lines()
    assert "hunter2" not in logs.text
    assert "labels" not in line


def test_level_from_settings(configure_logs: Any) -> None:
    captured = configure_logs(LOG_LEVEL="WARNING")
    logging.getLogger("q").info("hidden")
    structlog.get_logger("q").info("hidden too")
    logging.getLogger("q").warning("shown")
    structlog.get_logger("q").error("shown too")
    assert [line["message"] for line in captured.lines()] == ["shown", "shown too"]


def test_console_format(configure_logs: Any) -> None:
    captured = configure_logs(LOG_FORMAT="console")
    structlog.get_logger("dev").info("hello", n=1)
    text = captured.text
    assert re.match(r"\d\d:\d\d:\d\d\.\d{3} info +dev: hello  event\.dataset=django\.log labels\.n=1\n", text)


def test_warnings_module_goes_through_the_pipeline(logs: CapturedLogs) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("old api", UserWarning, stacklevel=1)
    (line,) = logs.lines()
    assert line["log"]["logger"] == "py.warnings"
    assert "old api" in line["message"]


def test_reset_restores_handlers_and_structlog() -> None:
    root = logging.getLogger()
    before = list(root.handlers), root.level
    stray = logging.getLogger("third.party")
    console = logging.StreamHandler(sys.stderr)
    stray.addHandler(console)
    stray.propagate = False
    try:
        pipeline.configure(stream=io.StringIO())
        assert any(isinstance(h, pipeline.EcsHandler) for h in root.handlers)
        assert console not in stray.handlers
        assert any(isinstance(h, pipeline.EcsHandler) for h in stray.handlers)
        fleet_logging.reset()
        assert (list(root.handlers), root.level) == before
        assert stray.handlers == [console]
        assert not structlog.is_configured()
    finally:
        stray.removeHandler(console)
        stray.propagate = True


def test_configure_is_idempotent(logs: CapturedLogs) -> None:
    pipeline.configure(stream=logs.stream)
    logging.getLogger("once").warning("one line")
    assert len(logs.lines()) == 1
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, pipeline.EcsHandler)]
    assert len(handlers) == 1


@pytest.mark.parametrize("gunicorn_access", [False, True])
def test_gunicorn_logconfig_makes_gunicorn_loggers_json(
    monkeypatch: pytest.MonkeyPatch, logs: CapturedLogs, gunicorn_access: bool
) -> None:
    if gunicorn_access:
        monkeypatch.setenv("FLEETOBS_GUNICORN_ACCESS_LOG", "1")
    config = fleet_logging.gunicorn_logconfig()
    root = logging.getLogger()
    touched = [logging.getLogger("gunicorn.error"), logging.getLogger("gunicorn.access"), root]
    saved = [(list(lg.handlers), lg.propagate, lg.level) for lg in touched]
    try:
        logging.config.dictConfig(config)
        # The handlers built by dictConfig write through the installed pipeline.
        touched[0].info("Booting worker with pid: %s", 123)
        touched[1].info('"GET / HTTP/1.1" 200')
    finally:
        for lg, (handlers, propagate, level) in zip(touched, saved, strict=True):
            lg.handlers[:] = handlers
            lg.propagate = propagate
            lg.setLevel(level)
    lines = logs.lines()
    assert lines[0]["log"]["logger"] == "gunicorn.error"
    assert lines[0]["event"]["dataset"] == "gunicorn.error"
    assert lines[0]["message"] == "Booting worker with pid: 123"
    if gunicorn_access:
        assert lines[1]["event"]["dataset"] == "gunicorn.access"
    else:
        # The middleware's access line replaces gunicorn's unless it is asked for.
        assert len(lines) == 1


def test_handler_without_configure_uses_settings_on_demand(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("standalone")
    handler = pipeline.EcsHandler()
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("from a LOGGING dict")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    line = json.loads(capsys.readouterr().out)
    assert line["service"]["name"] == "tests"
    assert line["message"] == "from a LOGGING dict"


def test_formatter_usable_in_a_logging_dict() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(fleet_logging.EcsFormatter())
    logger = logging.getLogger("dictconfig")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("plain handler, our format")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    line = json.loads(stream.getvalue())
    assert line["message"] == "plain handler, our format"
    assert line["log"]["level"] == "error"


def test_a_broken_str_still_yields_a_line(logs: CapturedLogs) -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    structlog.get_logger("b").info(Broken())
    (line,) = logs.lines()
    assert line["message"] == "<unprintable Broken>"


def test_capture_logs_helper() -> None:
    from instrumentation.logging.testing import capture_logs

    with capture_logs() as captured:
        structlog.get_logger("shop.checkout").info("order placed", order_id=42)
    (line,) = captured.by_logger("shop.checkout")
    assert line["labels"] == {"order_id": 42}
    assert not any(isinstance(h, pipeline.EcsHandler) for h in logging.getLogger().handlers)


def test_public_api_is_pinned() -> None:
    assert fleet_logging.__all__ == [
        "ContextFilter",
        "ContextProcessor",
        "EcsFormatter",
        "EcsHandler",
        "begin_request",
        "begin_task",
        "configure",
        "finish_request",
        "finish_task",
        "gunicorn_logconfig",
        "log_n_plus_one",
        "reset",
        "shutdown",
    ]
    from instrumentation import redaction

    assert {"redact_query", "redact_headers", "redact_mapping", "redact_text", "is_sensitive_key"} <= set(
        redaction.__all__
    )


def test_without_django_settings_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gunicorn master logs before Django is configured: one pipeline from the environment."""
    from django.core.exceptions import ImproperlyConfigured

    from instrumentation import conf

    def unconfigured() -> None:
        raise ImproperlyConfigured("settings are not configured")

    monkeypatch.setattr(conf, "get_settings", unconfigured)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    first = pipeline.current()
    assert first is pipeline.current()
    assert first.settings.service_name == "from-env"


def test_the_app_installs_the_pipeline_when_asked(configure_logs: Any) -> None:
    from django.test import override_settings

    from instrumentation import bootstrap, conf
    from tests.support.logs import BASE_SETTINGS

    with override_settings(FLEET_OBSERVABILITY={**BASE_SETTINGS, "LOGGING_CONFIGURE": True}):
        conf.reset()
        bootstrap.start()
        try:
            assert pipeline.installed() is not None
            assert any(isinstance(h, pipeline.EcsHandler) for h in logging.getLogger().handlers)
        finally:
            bootstrap.stop()
            fleet_logging.reset()
    assert pipeline.installed() is None
    conf.reset()
    bootstrap_off = {**BASE_SETTINGS, "LOGGING_CONFIGURE": False}
    with override_settings(FLEET_OBSERVABILITY=bootstrap_off):
        bootstrap.start()
        try:
            assert pipeline.installed() is None
        finally:
            bootstrap.stop()


def test_console_format_still_ships_json(configure_logs: Any) -> None:
    from tests.logging.es_server import FakeElasticsearch

    server = FakeElasticsearch()
    server.start()
    try:
        captured = configure_logs(LOG_FORMAT="console", ELASTICSEARCH_URL=server.url)
        structlog.get_logger("dev").warning("both ways", n=1)
        fleet_logging.shutdown()
        assert re.match(r"\d\d:\d\d:\d\d\.\d{3} warning +dev: both ways ", captured.text)
        (doc,) = server.all_docs()
        assert doc["message"] == "both ways"
        assert doc["labels"] == {"n": 1}
    finally:
        server.stop()


def test_caller_values_cannot_break_the_index_mapping(logs: CapturedLogs) -> None:
    """Every catalogued field is a leaf of the index mapping: an object there, or a @timestamp
    that is not a date, makes Elasticsearch refuse the whole line. Such values are kept, but
    where they cannot do harm."""
    structlog.get_logger("shop.orders").info(
        "odd values",
        **{
            "@timestamp": "yesterday",
            "log.level": {"k": 1},
            "user.id": {"id": 7, "token": "s3cret"},
            "url.path": ["/a", {"b": 1}],
            "http.response.status_code": 200,
            "error.type": ["A", "B"],
        },
    )
    logging.getLogger("shop.orders").warning("stdlib too", extra={"event.dataset": {"x": 1}})
    first, second = logs.by_logger("shop.orders")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["@timestamp"])
    assert first["log"]["level"] == "info"
    assert first["labels"]["@timestamp"] == "yesterday"
    assert first["labels"]["log.level"] == {"k": 1}
    assert json.loads(first["user"]["id"]) == {"id": 7, "token": "[REDACTED]"}
    assert isinstance(first["url"]["path"], str)
    assert first["http"]["response"]["status_code"] == 200
    assert first["error"]["type"] == ["A", "B"], "a list of plain values is a valid keyword array"
    assert second["event"]["dataset"] == '{"x": 1}'

    def leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
        if isinstance(value, dict) and path != "labels":
            return [leaf for key, item in value.items() for leaf in leaves(item, f"{path}.{key}".lstrip("."))]
        return [(path, value)]

    catalogued = {f.name for f in LOG_FIELDS}
    for line in (first, second):
        for path, value in leaves(line):
            assert path in catalogued, path
            assert not isinstance(value, dict) or path == "labels", (path, value)
