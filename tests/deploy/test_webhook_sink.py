"""The compose stack's webhook sink, run for real: it takes Alertmanager's webhook and Slack
payloads, prints one line per alert, and serves what it received."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.deploy.conftest import COMPOSE_DIR
from tests.support.procs import free_port

SINK = COMPOSE_DIR / "webhook-sink" / "sink.py"


@pytest.fixture
def sink() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-u", str(SINK), "--host", "127.0.0.1", f"--port={port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail(f"webhook sink did not start: {process.communicate()[0]}")
            time.sleep(0.1)
    try:
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def post(url: str, payload: dict[str, object]) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(response.status)


def test_records_and_prints_alertmanager_notifications(sink: tuple[str, subprocess.Popen[str]]) -> None:
    url, process = sink
    notification = {
        "version": "4",
        "receiver": "shop-page",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "FleetobsErrorBudgetBurn", "severity": "critical", "job": "shop"},
                "annotations": {"summary": "shop is burning its error budget 14x too fast."},
            }
        ],
    }
    assert post(f"{url}/alerts", notification) == 200
    assert (
        post(f"{url}/slack", {"channel": "#shop", "attachments": [{"title": "[FIRING:1] Watchdog"}]}) == 200
    )
    with urllib.request.urlopen(f"{url}/", timeout=5) as response:
        received = json.load(response)
    assert received[0] == notification
    assert received[1]["channel"] == "#shop"
    process.terminate()
    output, _ = process.communicate(timeout=10)
    assert "[shop-page] FIRING FleetobsErrorBudgetBurn severity=critical job=shop" in output
    assert "[slack #shop] [FIRING:1] Watchdog" in output


def test_rejects_a_body_that_is_not_json(sink: tuple[str, subprocess.Popen[str]]) -> None:
    url, _ = sink
    request = urllib.request.Request(f"{url}/alerts", data=b"not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=5)
    assert error.value.code == 400
    error.value.close()
