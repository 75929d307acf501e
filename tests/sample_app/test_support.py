"""The shared helpers other suites build on: the ``sample_fleet`` fixture, gunicorn worker
control, instance loss and recovery as Prometheus sees it, and Alertmanager delivering to the
webhook sink."""

from __future__ import annotations

import time

import pytest
import requests

from sample_app.fleet import Fleet
from tests.support.fixtures import sample_fleet  # noqa: F401 - the fixture under test
from tests.support.procs import Alertmanager, WebhookSink, alert_named, minimal_alertmanager_config

pytestmark = [pytest.mark.integration]


def test_sample_fleet_is_scraped_with_fleet_labels(sample_fleet: Fleet) -> None:  # noqa: F811
    assert sample_fleet.prometheus is not None
    up = sample_fleet.prometheus.query('up{job="shop"}')
    assert sorted((s["metric"]["instance"], s["metric"]["environment"], s["value"][1]) for s in up) == [
        ("shop-1", "test", "1"),
        ("shop-2", "test", "1"),
    ]


def test_sampled_requests_leave_exemplars_in_prometheus(sample_fleet: Fleet) -> None:  # noqa: F811
    assert sample_fleet.prometheus is not None
    assert sample_fleet.trace_sink is not None
    for _ in range(10):
        for app in sample_fleet.instances:
            assert requests.get(app.url + "/shop/products/?size=2", timeout=10).status_code == 200
    selector = 'http_server_request_duration_seconds_bucket{job="shop", http_route="shop/products/"}'
    deadline = time.monotonic() + 30
    while not (found := sample_fleet.prometheus.query_exemplars(selector)):
        assert time.monotonic() < deadline, "no exemplars stored"
        time.sleep(0.5)
    trace_ids = {e["labels"]["trace_id"] for series in found for e in series["exemplars"]}
    assert trace_ids
    assert all(len(t) == 32 for t in trace_ids)
    while sample_fleet.trace_sink.requests == 0:  # the spans themselves are exported too
        assert time.monotonic() < deadline, "no spans exported"
        time.sleep(0.5)


def test_killed_worker_is_replaced(sample_fleet: Fleet) -> None:  # noqa: F811
    app = sample_fleet.instances[0]
    before = app.worker_pids()
    assert len(before) == 2
    app.kill_worker(before[0])
    after = app.worker_pids()
    assert len(after) == 2
    assert before[0] not in after
    assert requests.get(app.url + "/healthz", timeout=10).status_code == 200


def test_lost_instance_shows_as_down_then_recovers(sample_fleet: Fleet) -> None:  # noqa: F811
    prometheus = sample_fleet.prometheus
    assert prometheus is not None
    sample_fleet.kill_instance(1)
    prometheus.wait_for_query('up{job="shop", instance="shop-2"} == 0', timeout=30)
    app = sample_fleet.restart_instance(1)
    assert requests.get(app.url + "/healthz", timeout=10).status_code == 200
    prometheus.wait_for_query('up{job="shop", instance="shop-2"} == 1', timeout=30)


def test_alertmanager_delivers_to_the_webhook_sink() -> None:
    with WebhookSink() as sink, Alertmanager(minimal_alertmanager_config(sink.url)) as alertmanager:
        alertmanager.post_alerts([{"labels": {"alertname": "SinkCheck", "job": "shop", "severity": "page"}}])
        alert = sink.wait_for(alert_named("SinkCheck", severity="page"), timeout=30)
        assert alert["status"] == "firing"
        assert alertmanager.alerts(alertname="SinkCheck")
