"""Exemplars end to end: sampled requests' trace ids reach a real Prometheus's exemplar storage."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.procs import Gunicorn, Prometheus, static_scrape_config
from tests.tracing.receiver import OtlpReceiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def trace_id_of(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        return str(response.headers["X-Trace-Id"])


def test_prometheus_stores_exemplars_from_all_workers(shop_env: dict[str, str], workdir: Path) -> None:
    receiver = OtlpReceiver()
    env = {k: v for k, v in shop_env.items() if k != "OTEL_SDK_DISABLED"} | {
        "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint,
    }
    with receiver, Gunicorn("sample_app.wsgi", workers=3, env=env, workdir=workdir / "gunicorn") as app:
        sent = {trace_id_of(app.url + "/shop/products/") for _ in range(60)}
        assert len(sent) == 60
        scrape = static_scrape_config("shop", [app.address], labels={"environment": "test"})
        with Prometheus([scrape], workdir=workdir / "prometheus", exemplars=True) as prometheus:
            prometheus.wait_for_targets_up(1)
            deadline = time.monotonic() + 60
            stored: set[str] = set()
            while time.monotonic() < deadline and not stored:
                time.sleep(1)
                now = time.time()
                results = prometheus.query_exemplars(
                    'http_server_request_duration_seconds_bucket{job="shop",http_route="shop/products/"}',
                    start=now - 300,
                    end=now + 60,
                )
                stored = {
                    exemplar["labels"]["trace_id"]
                    for series in results
                    for exemplar in series.get("exemplars", [])
                }
        exported = {span.trace_id for span in receiver.spans}
    assert stored, "no exemplar reached Prometheus"
    assert stored <= sent, stored - sent
    # Every exemplar leads to a trace that was really exported.
    assert stored <= exported, stored - exported
