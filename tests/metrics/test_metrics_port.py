"""METRICS_PORT under gunicorn: the master serves every worker's metrics on a port of its own."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from tests.support.procs import Gunicorn, free_port, wait_for_http

pytestmark = [pytest.mark.integration]


def test_master_serves_the_instance_metrics_on_its_own_port(shop_env: dict[str, str], workdir: Path) -> None:
    port = free_port()
    env = shop_env | {"FLEETOBS_METRICS_PORT": str(port), "FLEETOBS_METRICS_ADDRESS": "127.0.0.1"}
    with Gunicorn("sample_app.wsgi", workers=3, env=env, workdir=workdir / "gunicorn") as app:
        for _ in range(30):
            with urllib.request.urlopen(app.url + "/shop/products/", timeout=30) as response:
                response.read()
        wait_for_http(f"http://127.0.0.1:{port}/metrics", 30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
            text = response.read().decode()
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("http_server_request_duration_seconds_count{")
        and 'http_route="shop/products/"' in line
        and 'http_response_status_code="200"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) == 30.0
