"""A real Celery worker (prefork, Redis broker) serves its task metrics on FLEETOBS_METRICS_PORT."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.procs import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BROKER = "redis://127.0.0.1:6379/13"


def redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def value(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def test_worker_task_metrics_are_scraped(shop_env: dict[str, str], tmp_path: Path) -> None:
    if not redis_up():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is not running on 127.0.0.1:6379")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    port = free_port()
    env = shop_env | {
        "CELERY_BROKER_URL": BROKER,
        "FLEETOBS_METRICS_PORT": str(port),
        "FLEETOBS_METRICS_ADDRESS": "127.0.0.1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "sample_app.celery",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=WARNING",
                "-n",
                f"metrics-{os.getpid()}@%h",
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                scrape(port)
                break
            except OSError:
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise AssertionError(log.read_text()) from None
                time.sleep(0.5)
        publisher_env = {k: v for k, v in env.items() if k != "FLEETOBS_METRICS_PORT"}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "sample_app",
                "shell",
                "-c",
                "from sample_app.shop.tasks import process_order\n"
                "for _ in range(3): process_order.delay(999999)",
            ],
            env=publisher_env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        # A scrape reads each metric type's files in turn, so it can land between one
        # task's duration and its execution count: wait until every series has all three.
        counted = (
            "fleetobs_task_executions_total{",
            "fleetobs_task_duration_seconds_count{",
            "fleetobs_task_queue_wait_seconds_count{",
        )
        deadline = time.monotonic() + 60
        text = scrape(port)
        while min(value(text, prefix) for prefix in counted) < 3:
            assert time.monotonic() < deadline, text + log.read_text()
            time.sleep(0.5)
            text = scrape(port)
    finally:
        worker.terminate()
        worker.wait(30)
    assert value(text, 'fleetobs_task_executions_total{task_name="shop.process_order"') == 3.0
    assert value(text, 'fleetobs_task_duration_seconds_count{task_name="shop.process_order"}') == 3.0
    # The publisher stamped the publish time, so the worker measured the queue wait.
    assert value(text, 'fleetobs_task_queue_wait_seconds_count{task_name="shop.process_order"}') == 3.0
