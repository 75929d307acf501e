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


def test_dead_worker_marked_in_the_signal_path_is_folded_by_the_next_scrape(multiproc_dir: Path) -> None:
    pids = [in_child(n) for n in (3, 5, 7)]
    for pid in pids:
        assert multiprocess.note_process_dead(pid, multiproc_dir)
    # Marked, not yet folded: the files are still read, so the total is already exact.
    assert sorted(p.name for p in multiproc_dir.glob("dead_*")) == sorted(f"dead_{pid}" for pid in pids)
    assert scrape_value(collect(multiproc_dir)) == 15.0
    assert list(multiproc_dir.glob("dead_*")) == []
    assert sorted(p.name for p in multiproc_dir.glob("histogram_*.db")) == ["histogram_merged.db"]
    assert scrape_value(collect(multiproc_dir)) == 15.0


def test_marking_dead_never_waits_for_the_lock(multiproc_dir: Path) -> None:
    """gunicorn 23 runs child_exit inside its SIGCHLD handler, which can re-enter while the
    hook holds the lock: marking must return at once whoever holds it."""
    import threading

    from instrumentation import gunicorn

    pid = in_child(2)

    class Worker:
        pass

    worker = Worker()
    worker.pid = pid  # type: ignore[attr-defined]
    done = threading.Event()
    with multiprocess._locked(multiproc_dir, exclusive=True):
        thread = threading.Thread(target=lambda: (gunicorn.child_exit(None, worker), done.set()), daemon=True)
        thread.start()
        assert done.wait(30), "child_exit waited on the metrics lock"
    assert (multiproc_dir / f"dead_{pid}").exists()
    assert scrape_value(collect(multiproc_dir)) == 2.0
    assert not (multiproc_dir / f"counter_{pid}.db").exists()


def test_a_new_process_with_a_dead_workers_pid_folds_it_before_recording(multiproc_dir: Path) -> None:
    pid = in_child(4)
    # The dead worker's pid is handed to a new worker (pids are reused): pretend this is it.
    for typ in ("counter", "histogram"):
        source = multiproc_dir / f"{typ}_{pid}.db"
        if source.exists():
            source.rename(multiproc_dir / f"{typ}_{os.getpid()}.db")
    multiprocess.note_process_dead(os.getpid(), multiproc_dir)
    multiprocess.claim_pid(multiproc_dir)
    assert not (multiproc_dir / f"dead_{os.getpid()}").exists()
    assert not (multiproc_dir / f"histogram_{os.getpid()}.db").exists()
    assert scrape_value(collect(multiproc_dir)) == 4.0


def test_a_marked_pid_that_lives_again_is_left_to_its_new_owner(multiproc_dir: Path) -> None:
    assert multiprocess.note_process_dead(1, multiproc_dir)  # pid 1 is always alive
    assert multiprocess.merge_marked(multiproc_dir) == 0
    assert (multiproc_dir / "dead_1").exists()


def test_marking_in_an_unwritable_place_returns_false(tmp_path: Path) -> None:
    assert multiprocess.note_process_dead(123, tmp_path / "missing" / "dir") is False


def test_a_scrape_sweeps_processes_that_no_longer_exist(multiproc_dir: Path) -> None:
    """Servers without a child-exit hook (uvicorn and the like) mark nobody dead."""
    multiprocess.clear_directory(multiproc_dir)  # as a server start does: records the pid namespace
    pids = [in_child(n) for n in (2, 3)]
    assert (multiproc_dir / f"histogram_{pids[-1]}.db").exists()
    assert scrape_value(collect(multiproc_dir)) == 5.0
    assert sorted(p.name for p in multiproc_dir.glob("histogram_*.db")) == ["histogram_merged.db"]
    assert scrape_value(collect(multiproc_dir)) == 5.0


def test_no_sweep_where_pids_may_belong_to_another_namespace(multiproc_dir: Path) -> None:
    pid = in_child(2)
    # No namespace record (a directory emptied by another release), then a foreign one.
    assert multiprocess.sweep_dead(multiproc_dir) == 0
    (multiproc_dir / multiprocess.NAMESPACE_FILE).write_text("pid:[1]")
    assert multiprocess.sweep_dead(multiproc_dir) == 0
    assert (multiproc_dir / f"histogram_{pid}.db").exists()
    assert scrape_value(collect(multiproc_dir)) == 2.0
