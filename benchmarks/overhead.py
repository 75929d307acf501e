"""Per-request overhead, in-process through Django's WSGI handler, configurations interleaved.

Every configuration runs in a worker process of its own (:mod:`benchmarks.worker`; Django
settings are process-global), all started up front. Then, round after round, each worker in
turn serves ``requests`` requests of each view while the others wait, so a slow phase of the
machine hits every configuration alike; the order of the configurations rotates from round to
round. A timed run includes exporting the spans it produced (a flush at its end), so the
background export work is paid inside the measurement.

Reported per configuration and view, in process CPU time (all threads) and in wall-clock time:
the median and spread (quartiles, min/max) of µs per request over the rounds; the overhead
over bare Django as the median of the round-by-round differences; and the ratio of this
project's overhead to the anchor stack's.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import configs, stats

ROOT = Path(__file__).resolve().parent.parent
VIEWS = ("trivial", "orm", "applog", "raw-5", "raw-50", "orm-5", "orm-50")
#: Requests per round for each view: about the same time per view.
REQUESTS = {
    "trivial": 2000,
    "orm": 400,
    "applog": 2000,
    "raw-5": 400,
    "raw-50": 60,
    "orm-5": 300,
    "orm-50": 40,
}
#: The database-heavy views in pairs (5 and 50 queries): the difference per query is the cost
#: of one query's instrumentation (child span, metric, N+1 accounting; the anchor's spans and
#: its database wrapper's counters).
QUERY_PAIRS = {"raw": ("raw-5", "raw-50", 45), "orm": ("orm-5", "orm-50", 45)}
#: Process CPU time (all threads: the export threads' work counts) and wall-clock time. On a
#: busy machine the CPU time is the steadier of the two.
METRICS = ("cpu", "wall")


@dataclass
class Plan:
    configs: Sequence[str] = configs.FULL
    views: Sequence[str] = VIEWS
    rounds: int = 7
    requests: dict[str, int] = field(default_factory=lambda: dict(REQUESTS))
    #: Processes per configuration for the headline configurations: two processes of the same
    #: configuration can differ by a few percent (memory layout), so their rounds are averaged.
    replicas: int = 1
    replicated: Sequence[str] = ("bare", "ours-100", "anchor")

    def processes(self, name: str) -> int:
        return self.replicas if name in self.replicated else 1


class WorkerError(RuntimeError):
    pass


class Worker:
    """The driver's end of one :mod:`benchmarks.worker` process."""

    def __init__(self, config: str, environment: dict[str, str] | None = None) -> None:
        self.config = config
        read_fd, write_fd = os.pipe()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        env = dict(
            os.environ,
            FLEETOBS_BENCH_CONFIG=config,
            DJANGO_SETTINGS_MODULE="benchmarks.project.settings",
            PYTHONPATH=str(ROOT),
            # The same hash seed everywhere: dict and set layouts do not differ between workers.
            PYTHONHASHSEED="0",
            **(environment or {}),
        )
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self._directory: str | None = None
        if configs.get(config).extra.get("multiprocess"):
            self._directory = tempfile.mkdtemp(prefix="fleetobs-bench-mp-")
            env["PROMETHEUS_MULTIPROC_DIR"] = self._directory
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker", "--config", config, "--reply-fd", str(write_fd)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            pass_fds=(write_fd,),
            cwd=ROOT,
            env=env,
            text=True,
        )
        os.close(write_fd)
        self._replies = os.fdopen(read_fd, "r")
        self.ready: dict[str, Any] = {}

    def _error(self, message: str) -> WorkerError:
        self._stderr.seek(0)
        tail = self._stderr.read().decode("utf-8", "replace")[-4000:]
        return WorkerError(f"worker {self.config}: {message}\n{tail}")

    def read(self, timeout: float) -> dict[str, Any]:
        ready, _, _ = select.select([self._replies], [], [], timeout)
        if not ready:
            raise self._error(f"no answer within {timeout:.0f} s")
        line = self._replies.readline()
        if not line:
            raise self._error("exited")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise self._error(answer["error"])
        return answer

    def send(self, command: dict[str, Any], timeout: float = 300.0) -> dict[str, Any]:
        stdin = self.process.stdin
        if stdin is None:
            raise self._error("no stdin")
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        return self.read(timeout)

    def wait_ready(self, timeout: float = 180.0) -> dict[str, Any]:
        self.ready = self.read(timeout)
        return self.ready

    def close(self) -> dict[str, Any]:
        final: dict[str, Any] = {}
        with contextlib.suppress(Exception):
            final = self.send({"cmd": "quit"}, timeout=30.0)
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        with contextlib.suppress(Exception):
            self.process.wait(10)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._replies.close()
        self._stderr.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
        return final


def start_workers(
    names: Sequence[str],
    processes: Callable[[str], int] = lambda name: 1,
    environment: dict[str, str] | None = None,
) -> dict[str, list[Worker]]:
    workers: dict[str, list[Worker]] = {}
    try:
        for name in names:
            workers[name] = [Worker(name, environment) for _ in range(processes(name))]
        for group in workers.values():
            for worker in group:
                worker.wait_ready()
    except BaseException:
        for group in workers.values():
            for worker in group:
                worker.close()
        raise
    return workers


def run(plan: Plan, log: Callable[[str], None] = print) -> dict[str, Any]:
    names = list(plan.configs)
    if "bare" not in names:
        names.insert(0, "bare")
    receiver = None
    if configs.needs_receiver(names):
        from benchmarks.receiver import Receiver

        receiver = Receiver()
    try:
        return _run(plan, names, receiver, log)
    finally:
        if receiver is not None:
            receiver.close()


def _run(plan: Plan, names: list[str], receiver: Any, log: Callable[[str], None]) -> dict[str, Any]:
    log(f"overhead: starting {sum(plan.processes(n) for n in names)} worker processes")
    workers = start_workers(names, plan.processes, receiver.environment() if receiver else None)
    for name, group in workers.items():
        for worker in group:
            probe = worker.ready.get("probe", {})
            if (configs.get(name).tracing or "otel" in configs.get(name).anchors) and not probe.get("spans"):
                for other in (w for g in workers.values() for w in g):
                    other.close()
                raise WorkerError(f"{name}: tracing is on but no span reached the sink: {probe}")
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        metric: {n: {v: [] for v in plan.views} for n in names} for metric in METRICS
    }
    finals: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    try:
        for round_index in range(plan.rounds):
            shift = round_index % len(names)
            order = names[shift:] + names[:shift]
            for name in order:
                for view in plan.views:
                    count = plan.requests[view]
                    cpu: list[float] = []
                    wall: list[float] = []
                    for worker in workers[name]:
                        answer = worker.send({"cmd": "run", "view": view, "requests": count})
                        statuses = answer.get("statuses", {})
                        if set(statuses) != {"200 OK"}:
                            raise WorkerError(f"{name} {view}: unexpected statuses {statuses}")
                        cpu.append(answer["cpu_ns"] / count / 1000)
                        wall.append(answer["ns"] / count / 1000)
                    samples["cpu"][name][view].append(sum(cpu) / len(cpu))
                    samples["wall"][name][view].append(sum(wall) / len(wall))
            log(f"overhead: round {round_index + 1}/{plan.rounds} done ({time.monotonic() - started:.0f} s)")
    finally:
        for name, group in workers.items():
            closed = [worker.close() for worker in group]
            finals[name] = closed[0]
    result = summarise(plan, names, samples, {n: g[0].ready for n, g in workers.items()}, finals)
    if receiver is not None:
        result["receiver"] = receiver.stats()
    return result


def summarise(
    plan: Plan,
    names: Sequence[str],
    samples: dict[str, dict[str, dict[str, list[float]]]],
    ready: dict[str, dict[str, Any]],
    finals: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "rounds": plan.rounds,
        "processes": {name: plan.processes(name) for name in names},
        "requests_per_round": dict(plan.requests),
        "views": list(plan.views),
        "metrics": {"cpu": "process CPU time (all threads)", "wall": "wall-clock time"},
        "configs": {},
    }
    for name in names:
        config = configs.get(name)
        views: dict[str, Any] = {}
        for view in plan.views:
            views[view] = {}
            for metric in METRICS:
                values = samples[metric][name][view]
                diffs = stats.paired_differences(values, samples[metric]["bare"][view])
                views[view][metric] = {
                    "us_per_request": stats.summary(values),
                    "overhead_us": stats.summary(diffs) if name != "bare" else None,
                    "rounds_us": [round(v, 2) for v in values],
                }
        result["configs"][name] = {
            "label": config.label,
            "notes": config.notes,
            "settings": config.ours,
            "anchors": list(config.anchors),
            "probe": dict(ready[name].get("probe", {})),
            "spans_exported": finals.get(name, {}).get("spans", {}),
            "memory_after_runs": finals.get(name, {}).get("memory", {}),
            "views": views,
            "per_query_us": _per_query(plan, samples, name),
        }
    ratios: dict[str, dict[str, dict[str, float | None]]] = {}
    anchor = result["configs"].get("anchor")
    for metric in METRICS:
        ratios[metric] = {}
        for view in plan.views:
            ratios[metric][view] = {}
            if anchor is None:
                continue
            anchor_overhead = anchor["views"][view][metric]["overhead_us"]["median"]
            for name, entry in result["configs"].items():
                if name.startswith("ours") or name == "minimal":
                    ours_overhead = entry["views"][view][metric]["overhead_us"]["median"]
                    ratios[metric][view][name] = stats.ratio(ours_overhead, anchor_overhead)
    result["ratio_ours_to_anchor"] = ratios
    result["ratio_export"] = _export_ratios(plan, result["configs"])
    return result


def _per_query(
    plan: Plan, samples: dict[str, dict[str, dict[str, list[float]]]], name: str
) -> dict[str, Any]:
    """µs per query: round by round, (50-query view - 5-query view) / 45, over bare's."""
    found: dict[str, Any] = {}
    for kind, (few, many, extra) in QUERY_PAIRS.items():
        if few not in plan.views or many not in plan.views:
            continue
        per_round = [
            (b - a) / extra
            for a, b in zip(samples["cpu"][name][few], samples["cpu"][name][many], strict=True)
        ]
        bare = [
            (b - a) / extra
            for a, b in zip(samples["cpu"]["bare"][few], samples["cpu"]["bare"][many], strict=True)
        ]
        found[kind] = {
            "us_per_query": stats.summary(per_round, 1),
            "overhead_us_per_query": stats.summary(stats.paired_differences(per_round, bare), 1)
            if name != "bare"
            else None,
        }
    return found


def _export_ratios(plan: Plan, entries: dict[str, Any]) -> dict[str, dict[str, dict[str, float | None]]]:
    """On the real export path: ours over the anchor sending the same way."""
    ratios: dict[str, dict[str, dict[str, float | None]]] = {}
    for ours, anchor in configs.EXPORT_PAIRS.items():
        if ours not in entries or anchor not in entries:
            continue
        ratios[ours] = {}
        for metric in METRICS:
            ratios[ours][metric] = {
                view: stats.ratio(
                    entries[ours]["views"][view][metric]["overhead_us"]["median"],
                    entries[anchor]["views"][view][metric]["overhead_us"]["median"],
                )
                for view in plan.views
            }
    return ratios
