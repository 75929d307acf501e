"""Multiprocess storage: real forked processes writing mmap files, merged when they die."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, values
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from instrumentation.metrics import exemplars, http, multiprocess, registry

LABELS = {"http_request_method": "GET", "http_route": "items/<int:pk>/", "http_response_status_code": "200"}


@pytest.fixture
def multiproc_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    registry.reset()
    yield tmp_path
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    registry.reset()
    values.ValueClass = values.get_value_class()


def in_child(requests: int, trace_id: str | None = None) -> int:
    """Fork a worker that serves ``requests`` requests, flushes its exemplars and exits."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            for _ in range(requests):
                http.observe("GET", "items/<int:pk>/", 200, 0.03, 10, 20, trace_id)
            exemplars.flush(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    return pid


def scrape_value(text: str, name: str = "http_server_request_duration_seconds_count") -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and 'http_route="items/<int:pk>/"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in scrape")


def collect(directory: Path) -> str:
    reg = CollectorRegistry()
    reg.register(multiprocess.FleetCollector(directory))
    return generate_latest(reg).decode()


def test_scrape_sums_workers_and_survives_their_death(multiproc_dir: Path) -> None:
    pids = [in_child(n) for n in (3, 5, 7)]
    assert scrape_value(collect(multiproc_dir)) == 15.0
    for pid in pids:
        multiprocess.mark_process_dead(pid, multiproc_dir)
    # Totals are exact after the merge, and only the merged file remains.
    assert scrape_value(collect(multiproc_dir)) == 15.0
    assert sorted(p.name for p in multiproc_dir.glob("histogram_*.db")) == ["histogram_merged.db"]


def test_file_count_does_not_grow_with_restarts(multiproc_dir: Path) -> None:
    for _ in range(30):
        multiprocess.mark_process_dead(in_child(1), multiproc_dir)
    assert scrape_value(collect(multiproc_dir)) == 30.0
    assert len(list(multiproc_dir.glob("*.db"))) <= 3


def test_exemplars_cross_processes_in_openmetrics(multiproc_dir: Path) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    in_child(2, trace_id)
    reg = CollectorRegistry()
    reg.register(multiprocess.FleetCollector(multiproc_dir))
    text = generate_openmetrics(reg).decode()
    bucket_lines = [line for line in text.splitlines() if "_bucket{" in line and 'le="0.05"' in line]
    assert any(f'# {{trace_id="{trace_id}"}} 0.03' in line for line in bucket_lines), bucket_lines
