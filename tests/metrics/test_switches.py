"""``METRICS_ENABLED`` and ``EXEMPLARS_ENABLED`` off: nothing of ours is recorded, or no exemplar."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from instrumentation import metrics
from instrumentation.metrics import registry
from instrumentation.tracing.testing import capture_spans
from tests.project.models import Author, Book

OURS = ("http_server_", "db_client_", "fleetobs_")
#: Written by the runtime sampler thread, which an earlier test may have left running for a
#: moment; the requests and calls of these tests never touch them.
SAMPLED = ("fleetobs_process_", "fleetobs_python_", "fleetobs_server_workers")


def _recorded() -> dict[str, float]:
    """Every sample of our metrics that holds a non-zero value."""
    found: dict[str, float] = {}
    for family in registry.collector_registry().collect():
        for sample in family.samples:
            if sample.name.startswith(OURS) and not sample.name.startswith(SAMPLED) and sample.value:
                found[f"{sample.name}{sorted(sample.labels.items())}"] = sample.value
    return found


@pytest.fixture
def library(db: None) -> None:
    Book.objects.create(title="one", author=Author.objects.create(name="a"))


@override_settings(FLEET_OBSERVABILITY={"METRICS_ENABLED": False})
def test_metrics_off_records_nothing_of_ours(library: None) -> None:
    from django.db import DatabaseError, connection

    before = _recorded()
    with capture_spans():  # spans are still made: only metrics are off
        client = Client(raise_request_exception=False)
        assert client.get("/books/n-plus-one/").status_code == 200
        assert client.get("/cached/").status_code == 200
        assert client.get("/boom/").status_code == 500
        cache.get("absent")
        with pytest.raises(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")
    assert not metrics.enabled()
    assert _recorded() == before


def test_metrics_on_records_the_same_traffic(library: None) -> None:
    before = _recorded()
    Client().get("/books/n-plus-one/")
    cache.get("absent")
    recorded = _recorded()
    changed = {key for key, value in recorded.items() if before.get(key) != value}
    assert any(key.startswith("http_server_request_duration_seconds_count") for key in changed)
    assert any(key.startswith("db_client_operation_duration_seconds_count") for key in changed)
    assert any(key.startswith("fleetobs_cache_operations_total") for key in changed)


def _run_a_task_and_count_pipelines(task_name: str) -> None:
    """Run one task in this process (instrumented, bound to the test site's app as
    tests/tracing's eager_app), and count a dropped span and three shipped log lines through the
    pipelines' own counters."""
    from celery import shared_task

    from instrumentation import celery as fleet_celery
    from instrumentation.logging import shipper
    from instrumentation.tracing import export
    from tests.tracing.site.celery_app import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    app.set_current()
    was_instrumented = fleet_celery.instrumented()
    fleet_celery.instrument()

    @shared_task(name=task_name)
    def noop() -> None:
        pass

    try:
        noop.delay()
        export._count("fleetobs_telemetry_dropped", ("spans", "queue_full"))
        shipper._count("fleetobs_telemetry_exported", 3, signal="logs")
    finally:
        if not was_instrumented:
            fleet_celery.uninstrument()


def _exemplars() -> list[str]:
    text = generate_openmetrics(registry.collector_registry()).decode()
    return [
        line
        for line in text.splitlines()
        if line.startswith("http_server_request_duration_seconds_bucket") and "# {trace_id=" in line
    ]


@pytest.mark.parametrize("enabled", [True, False])
def test_exemplars_follow_the_setting(enabled: bool) -> None:
    with override_settings(FLEET_OBSERVABILITY={"EXEMPLARS_ENABLED": enabled}), capture_spans():
        response = Client().get("/ok/")
    assert response.status_code == 200
    found = _exemplars()
    if enabled:
        assert any(response["X-Trace-Id"] in line for line in found), found
    else:
        assert found == []


@override_settings(FLEET_OBSERVABILITY={"METRICS_ENABLED": False})
def test_metrics_off_covers_tasks_pipelines_capacity_and_the_scrape(
    monkeypatch: pytest.MonkeyPatch, library: None
) -> None:
    from instrumentation import pending_migrations as migrations
    from instrumentation.metrics import runtime

    checked: list[bool] = []
    monkeypatch.setattr(migrations, "refresh_if_stale", lambda: checked.append(True))
    before = _recorded()
    _run_a_task_and_count_pipelines("switches.noop")
    runtime.set_capacity(4)
    assert Client().get("/metrics").status_code == 200
    assert _recorded() == before
    assert checked == [], "no migration check on scrape with metrics off"


def test_metrics_on_counts_the_same_tasks_and_pipelines() -> None:
    before = _recorded()
    _run_a_task_and_count_pipelines("switches.noop_on")
    changed = {key.split("[")[0] for key, value in _recorded().items() if before.get(key) != value}
    assert {
        "fleetobs_task_executions_total",
        "fleetobs_task_duration_seconds_count",
        "fleetobs_telemetry_dropped_total",
        "fleetobs_telemetry_exported_total",
    } <= changed
