"""Scrape cost: ``/metrics`` time and size with 300 routes, before and after 100 worker restarts.

For each worker count, two real gunicorn servers (``--preload``, so a restart is a fork) serve
the 300-route URLconf with this project's middleware, every worker warmed with one request per
route (see :mod:`benchmarks.project.gunicorn_common`), so each worker's files hold every
route's series. They differ only in what happens when a worker dies:

``ours``   ``instrumentation.gunicorn.child_exit`` folds the dead worker's files into one merged
           file per type; the scrape reads them with ``FleetCollector``.
``stock``  prometheus_client's documented setup: ``child_exit`` calls its
           ``mark_process_dead`` (live gauges only), and the scrape reads every file ever
           written with its ``MultiProcessCollector``.

Workers are restarted with SIGTERM, a few at a time, each replacement warmed before the next
batch. The directory is copied after warm-up and after the restarts; once every server has
run, the collection and rendering (``generate_latest``) of each copy is timed in this process,
the copies in turn, several times (median). For ``ours`` the real ``GET /metrics`` over HTTP
is timed on the live server as well. The request counter total is checked against the number of
warm-up requests served, so merging is shown to lose nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.project.routes import ROUTES
from benchmarks.servers import Gunicorn

COUNT_SERIES = "http_server_request_duration_seconds_count"


@dataclass
class Plan:
    workers: Sequence[int] = (4, 16)
    restarts: int = 100
    batch: int = 4
    repeats: int = 5
    routes: int = ROUTES


def _collector(kind: str, directory: Path) -> Any:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    if kind == "ours":
        from instrumentation.metrics.multiprocess import FleetCollector

        registry.register(FleetCollector(str(directory)))
    else:
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(registry, path=str(directory))
    return registry


def measure(kind: str, directory: Path, repeats: int) -> dict[str, Any]:
    """Collect and render the directory ``repeats`` times; the median time, size and totals."""
    from prometheus_client import generate_latest

    registry = _collector(kind, directory)
    times: list[float] = []
    body = b""
    for _ in range(repeats):
        started = time.perf_counter()
        body = generate_latest(registry)
        times.append((time.perf_counter() - started) * 1000)
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(COUNT_SERIES + "{"):
            total += float(line.rsplit(" ", 1)[1])
    files = sorted(p.name for p in directory.glob("*.db"))
    return {
        "collect_ms": round(statistics.median(times), 1),
        "collect_ms_min": round(min(times), 1),
        "bytes": len(body),
        "files": len(files),
        "requests_counted": int(total),
    }


def _http_ms(url: str, repeats: int) -> dict[str, Any]:
    times: list[float] = []
    size = 0
    for _ in range(repeats):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as answer:
            size = len(answer.read())
        times.append((time.perf_counter() - started) * 1000)
    return {"ms": round(statistics.median(times), 1), "bytes": size}


def _wait_warm(server: Gunicorn, ready: Path, gone: set[int], timeout: float = 120.0) -> set[int]:
    """Wait until the server has its full set of workers, none of ``gone``, all warm."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = set(server.worker_pids())
        if len(pids) == server.workers and not pids & gone and all((ready / str(p)).exists() for p in pids):
            return pids
        if not server.running:
            raise RuntimeError("gunicorn exited during the scrape benchmark")
        time.sleep(0.05)
    raise RuntimeError(f"workers not warm after {timeout:.0f} s")


def _restart(server: Gunicorn, ready: Path, restarts: int, batch: int) -> float:
    started = time.monotonic()
    done = 0
    pids = _wait_warm(server, ready, set())
    while done < restarts:
        victims = sorted(pids)[: min(batch, restarts - done)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        pids = _wait_warm(server, ready, set(victims))
        done += len(victims)
    return time.monotonic() - started


def _snapshot(kind: str, directory: Path, target: Path) -> Path:
    """Copy the metrics directory (under the merge lock for ours) so it can be measured later."""
    if kind == "ours":
        from instrumentation.metrics.multiprocess import _locked

        with _locked(directory, exclusive=False):
            shutil.copytree(directory, target)
    else:
        shutil.copytree(directory, target)
    return target


def run_one(kind: str, workers: int, plan: Plan, base: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Serve, warm, restart; snapshot the directory at 0 and at ``plan.restarts`` restarts."""
    work = base / f"{kind}-{workers}"
    directory = work / "metrics"
    ready = work / "ready"
    directory.mkdir(parents=True)
    ready.mkdir()
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "FLEETOBS_BENCH_READY_DIR": str(ready),
        "FLEETOBS_BENCH_WARM_ROUTES": str(plan.routes),
    }
    hooks = "ours" if kind == "ours" else "stock"
    result: dict[str, Any] = {"snapshots": {}}
    with Gunicorn(
        "ours-default",
        hooks,
        workers=workers,
        preload=True,
        urlconf="routes",
        env=env,
        log=work / "server.log",
        ready_path="/healthz",  # the 300-route URLconf has no /trivial/
    ) as server:
        _wait_warm(server, ready, set())
        time.sleep(1.5)  # exemplar files are written once a second
        result["snapshots"][0] = _snapshot(kind, directory, work / "restarts-0")
        if kind == "ours":
            result["http_0"] = _http_ms(server.url + "/metrics", plan.repeats)
        seconds = _restart(server, ready, plan.restarts, plan.batch)
        time.sleep(1.5)
        result["snapshots"][plan.restarts] = _snapshot(kind, directory, work / f"restarts-{plan.restarts}")
        if kind == "ours":
            result["http_after"] = _http_ms(server.url + "/metrics", plan.repeats)
        result["restart_seconds"] = round(seconds, 1)
    log(f"scrape: {kind}, {workers} workers: {plan.restarts} restarts in {seconds:.0f} s")
    return result


def run(plan: Plan, log: Callable[[str], None] = print) -> dict[str, Any]:
    results: dict[str, Any] = {
        "routes": plan.routes,
        "restarts": plan.restarts,
        "batch": plan.batch,
        "repeats": plan.repeats,
        "workers": {},
    }
    base = Path(tempfile.mkdtemp(prefix="fleetobs-bench-scrape-"))
    try:
        served = {
            (kind, workers): run_one(kind, workers, plan, base, log)
            for workers in plan.workers
            for kind in ("ours", "stock")
        }
        # Measured afterwards, all snapshots in turn, so machine noise hits every one alike.
        timings: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
        for _ in range(plan.repeats):
            for (kind, workers), outcome in served.items():
                for restarts, path in outcome["snapshots"].items():
                    timings.setdefault((kind, workers, restarts), []).append(measure(kind, path, 1))
        for workers in plan.workers:
            entry: dict[str, Any] = {}
            for kind in ("ours", "stock"):
                server = served[(kind, workers)]
                measured: dict[str, Any] = {"restart_seconds": server["restart_seconds"]}
                for restarts in (0, plan.restarts):
                    runs = timings[(kind, workers, restarts)]
                    times = [r["collect_ms"] for r in runs]
                    measured[f"restarts_{restarts}"] = {
                        **runs[-1],
                        "collect_ms": round(statistics.median(times), 1),
                        "collect_ms_min": round(min(times), 1),
                    }
                if kind == "ours":
                    measured["restarts_0"]["http"] = server["http_0"]
                    measured[f"restarts_{plan.restarts}"]["http"] = server["http_after"]
                measured["expected_requests"] = plan.routes * (workers + plan.restarts)
                entry[kind] = measured
            key = f"restarts_{plan.restarts}"
            for kind in ("ours", "stock"):
                before = entry[kind]["restarts_0"]["collect_ms"]
                entry[f"{kind}_growth"] = round(entry[kind][key]["collect_ms"] / max(before, 0.1), 2)
            results["workers"][str(workers)] = entry
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return results
