"""structlog events take the short way to the pipeline only when the standard library would do
nothing more with them; anything a team adds on the way (a handler, a filter, a level, Sentry's
patched dispatch, a record factory) gets them through the standard library as before."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from instrumentation.logging import pipeline
from instrumentation.logging.testing import CapturedLogs, capture_logs
from tests.logging.leak_shapes import SHAPES

LOGGER = "shop.route"


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logs() -> Iterator[CapturedLogs]:
    with capture_logs() as captured:
        yield captured
    logging.getLogger(LOGGER).setLevel(logging.NOTSET)


@contextlib.contextmanager
def as_in_a_service() -> Iterator[None]:
    """Without pytest's capturing handlers (put on the root logger for each test's call): the
    pipeline's handler alone, as in a service."""
    root = logging.getLogger()
    kept = list(root.handlers)
    root.handlers[:] = [handler for handler in kept if isinstance(handler, pipeline.EcsHandler)]
    try:
        yield
    finally:
        root.handlers[:] = kept


def _line(logs: CapturedLogs) -> dict[str, Any]:
    (line,) = logs.by_logger(LOGGER)
    logs.clear()
    return line


def _comparable(line: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in line.items() if key != "@timestamp"}


def test_with_only_the_pipelines_handler_the_line_skips_the_standard_library(logs: CapturedLogs) -> None:
    with as_in_a_service():
        _short_way_and_long_way_agree(logs)


def _short_way_and_long_way_agree(logs: CapturedLogs) -> None:
    stdlib_logger = logging.getLogger(LOGGER)
    handler = pipeline._sole_handler(stdlib_logger, logging.INFO)
    assert isinstance(handler, pipeline.EcsHandler)
    made: list[logging.LogRecord] = []
    original = logging.getLogRecordFactory()

    structlog.get_logger(LOGGER).info("order placed", order_id=7, **{"user.id": "42"})
    direct = _line(logs)

    def counting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = original(*args, **kwargs)
        made.append(record)
        return record

    logging.setLogRecordFactory(counting)  # a replaced factory: the standard library's way
    try:
        structlog.get_logger(LOGGER).info("order placed", order_id=7, **{"user.id": "42"})
    finally:
        logging.setLogRecordFactory(original)
    through_stdlib = _line(logs)
    assert len(made) == 1
    # The same line either way.
    assert _comparable(direct) == _comparable(through_stdlib)
    assert direct["labels"] == {"order_id": 7}
    assert direct["user"] == {"id": "42"}
    assert direct["log"] == {"level": "info", "logger": LOGGER}


def test_a_handler_of_the_teams_own_still_gets_every_event(logs: CapturedLogs) -> None:
    with as_in_a_service():
        recorder = Recorder()
        logging.getLogger("shop").addHandler(recorder)
        try:
            structlog.get_logger(LOGGER).warning("low stock", sku="A-1")
        finally:
            logging.getLogger("shop").removeHandler(recorder)
        assert _line(logs)["message"] == "low stock"
        (record,) = recorder.records
        assert record.msg["event"] == "low stock"  # type: ignore[index]


def test_a_patched_dispatch_sees_every_event(logs: CapturedLogs, monkeypatch: pytest.MonkeyPatch) -> None:
    with as_in_a_service():
        seen: list[str] = []
        original = logging.Logger.callHandlers

        def call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:  # as Sentry does
            seen.append(record.name)
            original(self, record)

        monkeypatch.setattr(logging.Logger, "callHandlers", call_handlers)
        structlog.get_logger(LOGGER).info("paid")
        assert seen == [LOGGER]
        assert _line(logs)["message"] == "paid"


def test_filters_and_levels_on_the_way_are_honoured(logs: CapturedLogs) -> None:
    with as_in_a_service():
        stdlib_logger = logging.getLogger(LOGGER)
        log = structlog.get_logger(LOGGER)

        class DropRefunds(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                return "refund" not in str(record.msg)

        refunds = DropRefunds()
        stdlib_logger.addFilter(refunds)
        try:
            log.info("refund issued")
            log.info("order placed")
        finally:
            stdlib_logger.removeFilter(refunds)
        assert [line["message"] for line in logs.by_logger(LOGGER)] == ["order placed"]
        logs.clear()

        stdlib_logger.setLevel(logging.WARNING)
        log.info("hidden")
        log.warning("shown")
        assert [line["message"] for line in logs.by_logger(LOGGER)] == ["shown"]
        logs.clear()
        stdlib_logger.setLevel(logging.NOTSET)

        logging.disable(logging.INFO)
        try:
            log.info("disabled")
        finally:
            logging.disable(logging.NOTSET)
        assert logs.by_logger(LOGGER) == []


def test_exceptions_and_bound_context_take_the_short_way_too(logs: CapturedLogs) -> None:
    with as_in_a_service():
        structlog.contextvars.bind_contextvars(tenant="acme")
        try:
            try:
                raise ValueError("card declined")
            except ValueError:
                structlog.get_logger(LOGGER).exception("payment failed", password="hunter2")
        finally:
            structlog.contextvars.clear_contextvars()
        line = _line(logs)
        assert line["log"]["level"] == "error"
        assert line["error"]["type"] == "ValueError"
        assert "card declined" in line["error"]["stack_trace"]
        assert line["labels"] == {"tenant": "acme", "password": "[REDACTED]"}
        assert "hunter2" not in logs.text


def test_a_logger_that_does_not_propagate_with_its_own_handler(logs: CapturedLogs) -> None:
    with as_in_a_service():
        stdlib_logger = logging.getLogger(LOGGER)
        own = pipeline.EcsHandler()
        stdlib_logger.addHandler(own)
        stdlib_logger.propagate = False
        try:
            assert pipeline._sole_handler(stdlib_logger, logging.INFO) is own
            structlog.get_logger(LOGGER).info("alone")
        finally:
            stdlib_logger.removeHandler(own)
            stdlib_logger.propagate = True
        assert _line(logs)["message"] == "alone"


@pytest.mark.parametrize(("text", "secrets"), SHAPES, ids=[str(i) for i in range(len(SHAPES))])
def test_the_short_way_writes_what_the_standard_librarys_way_writes(
    logs: CapturedLogs, text: str, secrets: list[str]
) -> None:
    fields = {"detail": text, "url.query": text, "user_agent.original": text, "count": 10**15 + 7}
    with as_in_a_service():
        assert pipeline._sole_handler(logging.getLogger(LOGGER), logging.ERROR) is not None
        structlog.get_logger(LOGGER).error(text, **fields)
        direct = _line(logs)
        structlog.get_logger(LOGGER).error(text, **fields)
        raw_direct = logs.text
        logs.clear()
    recorder = Recorder()  # another handler: the standard library's way
    logging.getLogger().addHandler(recorder)
    try:
        structlog.get_logger(LOGGER).error(text, **fields)
    finally:
        logging.getLogger().removeHandler(recorder)
    assert len(recorder.records) == 1
    assert _comparable(direct) == _comparable(_line(logs))
    for secret in secrets:
        assert secret not in raw_direct
