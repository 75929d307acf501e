"""Celery: a task queued from a request shares its trace; task metrics are counted."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client, override_settings
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from instrumentation import celery as fleet_celery
from instrumentation import testing
from tests.tracing.receiver import OtlpReceiver

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def eager_app() -> Iterator[object]:
    from tests.tracing.site.celery_app import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    # shared_task binds to the current app: another test may have made a later app current
    # (the sample shop's), whose tasks would be published instead of run here.
    app.set_current()
    was_instrumented = fleet_celery.instrumented()
    fleet_celery.instrument()
    yield app
    if not was_instrumented:
        fleet_celery.uninstrument()


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


@override_settings(ROOT_URLCONF="tests.tracing.site.urls")
def test_eager_task_shares_the_request_trace(spans: InMemorySpanExporter, eager_app: object) -> None:
    response = Client().get("/enqueue/")
    assert response.status_code == 200
    body = response.json()
    assert body["task"][0] == body["request"][0] == response["X-Trace-Id"]
    finished = {s.name: s for s in spans.get_finished_spans()}
    server = finished["GET enqueue/"]
    task = finished["process tracing_site.echo_ids"]
    assert task.kind is SpanKind.CONSUMER
    assert task.parent is not None
    assert task.parent.span_id == server.context.span_id
    assert _hex(task.context.span_id, 16) == body["task"][1]
    assert task.attributes is not None
    assert task.attributes["messaging.system"] == "celery"
    assert task.attributes["celery.task.state"] == "success"
    assert (
        testing.get_sample_value(
            "fleetobs_task_executions_total", {"task_name": "tracing_site.echo_ids", "task_state": "success"}
        )
        or 0
    ) >= 1


def test_failing_task_is_an_error_and_counted(spans: InMemorySpanExporter, eager_app: object) -> None:
    from celery import shared_task

    @shared_task(name="tracing_site.fails")
    def fails() -> None:
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        fails.delay()
    (task,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert task.status.status_code is StatusCode.ERROR
    assert [e.name for e in task.events] == ["exception"]
    assert (
        testing.get_sample_value(
            "fleetobs_task_executions_total", {"task_name": "tracing_site.fails", "task_state": "failure"}
        )
        == 1
    )


def test_instrument_without_celery_degrades_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    was_instrumented = fleet_celery.instrumented()
    fleet_celery.uninstrument()
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "celery", None)
        assert fleet_celery.instrument() is False
        assert not fleet_celery.instrumented()
    if was_instrumented:
        assert fleet_celery.instrument() is True


def _redis_available() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.integration
@pytest.mark.slow
def test_task_on_a_real_worker_shares_the_request_trace(tmp_path: Path, receiver: OtlpReceiver) -> None:
    """Web (gunicorn) -> Redis -> Celery prefork worker: one trace, server > publish > process."""
    if not _redis_available():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is not running on 127.0.0.1:6379")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    from tests.tracing.site_gunicorn import site_env, site_gunicorn

    env = site_env(tmp_path, receiver.endpoint) | {
        "TRACING_SITE_BROKER": "redis://127.0.0.1:6379/15",
        "TRACING_SITE_BACKEND": "redis://127.0.0.1:6379/15",
    }
    log = tmp_path / "celery.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests.tracing.site.celery_app",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=WARNING",
                "-Q",
                "celery",
                "-n",
                f"tracing-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        with site_gunicorn(env, workers=2) as server:
            response = server.get("/enqueue/", timeout=30)
            assert response.status == 200, log.read_text()
            body = response.json()
            trace_id = response.headers["X-Trace-Id"]
            assert body["task"][0] == body["request"][0] == trace_id
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
    spans = receiver.wait_for(
        lambda s: {"process tracing_site.echo_ids", "GET enqueue/"} <= {x.name for x in s}
    )
    by_name = {s.name: s for s in spans if s.trace_id == trace_id}
    server_span = by_name["GET enqueue/"]
    publish = by_name["publish tracing_site.echo_ids"]
    process = by_name["process tracing_site.echo_ids"]
    assert publish.kind == "PRODUCER"
    assert publish.parent_span_id == server_span.span_id
    assert process.kind == "CONSUMER"
    assert process.parent_span_id == publish.span_id
    assert process.span_id == body["task"][1]
    assert process.resource["process.pid"] != server_span.resource["process.pid"]


@override_settings(ROOT_URLCONF="tests.tracing.site.urls")
def test_unsampled_request_still_shares_its_trace_id(eager_app: object) -> None:
    from instrumentation.tracing.testing import capture_spans

    with capture_spans(traces_sampler="always_off") as exporter:
        response = Client().get("/enqueue/")
    body = response.json()
    assert body["task"][0] == body["request"][0] == response["X-Trace-Id"]
    assert exporter.get_finished_spans() == ()


def test_task_log_lines_carry_the_task_name_and_id(spans: InMemorySpanExporter, eager_app: object) -> None:
    import logging

    from celery import shared_task

    from instrumentation.logging.testing import capture_logs

    @shared_task(name="tracing_site.logs_twice")
    def logs_twice() -> None:
        logging.getLogger("tracing_site.tasks").warning("charging the card")
        import structlog

        structlog.get_logger("tracing_site.tasks").info("card charged")

    with capture_logs() as logs:
        result = logs_twice.delay()
        logging.getLogger("tracing_site.tasks").warning("after the task")
    task_id = result.id
    lines = logs.by_logger("tracing_site.tasks")
    assert [line["message"] for line in lines] == ["charging the card", "card charged", "after the task"]
    (span,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    for line in lines[:2]:
        assert line["task"] == {"name": "tracing_site.logs_twice", "id": task_id}
        assert line["trace"]["id"] == _hex(span.context.trace_id, 32)
    assert "task" not in lines[2], "the task fields are unbound when the task ends"


def test_a_failing_task_unbinds_its_log_fields(eager_app: object) -> None:
    import logging

    from celery import shared_task

    from instrumentation.logging.testing import capture_logs

    @shared_task(name="tracing_site.logs_then_fails")
    def logs_then_fails() -> None:
        logging.getLogger("tracing_site.tasks").error("about to fail")
        raise RuntimeError("card declined")

    with capture_logs() as logs:
        with pytest.raises(RuntimeError, match="card declined"):
            logs_then_fails.delay()
        logging.getLogger("tracing_site.tasks").warning("after the task")
    failing, after = logs.by_logger("tracing_site.tasks")
    assert failing["task"]["name"] == "tracing_site.logs_then_fails"
    assert "task" not in after


def test_task_log_fields_are_unbound_even_when_postrun_bookkeeping_fails(
    monkeypatch: pytest.MonkeyPatch, eager_app: object
) -> None:
    import logging

    from celery import shared_task

    from instrumentation.logging.testing import capture_logs

    def broken(*args: object) -> object:
        raise OSError("metrics directory gone")

    @shared_task(name="tracing_site.loses_its_bookkeeping")
    def loses_its_bookkeeping() -> None:
        logging.getLogger("tracing_site.tasks").warning("inside")
        fleet_celery._running.clear()  # as the in-flight bound does with 10,000 running tasks

    @shared_task(name="tracing_site.metrics_fail")
    def metrics_fail() -> None:
        logging.getLogger("tracing_site.tasks").warning("inside")

    with capture_logs() as logs:
        loses_its_bookkeeping.delay()
        logging.getLogger("tracing_site.tasks").warning("after the first")
        monkeypatch.setattr(fleet_celery, "_count", broken)
        metrics_fail.delay()
        logging.getLogger("tracing_site.tasks").warning("after the second")
    lines = logs.by_logger("tracing_site.tasks")
    assert [line["message"] for line in lines] == ["inside", "after the first", "inside", "after the second"]
    assert lines[0]["task"]["name"] == "tracing_site.loses_its_bookkeeping"
    assert lines[2]["task"]["name"] == "tracing_site.metrics_fail"
    assert "task" not in lines[1]
    assert "task" not in lines[3]
