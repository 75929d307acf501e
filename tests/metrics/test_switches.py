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


def _recorded() -> dict[str, float]:
    """Every sample of our metrics that holds a non-zero value."""
    found: dict[str, float] = {}
    for family in registry.collector_registry().collect():
        for sample in family.samples:
            if sample.name.startswith(OURS) and sample.value:
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
