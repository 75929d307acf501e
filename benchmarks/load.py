"""Under load: real gunicorn (sync workers) serving the trivial view, driven by ``wrk``.

One server per configuration (bare Django, this project with its gunicorn hooks, the anchor
stack with prometheus_client's stock multiprocess setup), all started up front; then, round
after round, ``wrk --latency`` drives each in turn (order rotating), so they share the
machine's slow and fast phases. Reported per configuration: requests per second and the p50
and p99 latency (medians over the rounds), and the throughput relative to bare Django. Because
other work on a shared machine moves requests/s a lot, the CPU time the server (master and
workers, from /proc) used per request is reported as well, with the capacity it implies
relative to bare Django (bare's CPU per request divided by the configuration's).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import stats
from benchmarks.servers import Gunicorn

#: configuration -> gunicorn hooks it runs with.
SERVERS = {"bare": "bare", "ours-100": "ours", "minimal": "bare", "anchor": "stock"}
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass
class Plan:
    configs: Sequence[str] = tuple(SERVERS)
    workers: int = 2
    threads: int = 1
    connections: int = 4
    duration: int = 10
    rounds: int = 3
    path: str = "/trivial/"


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, p50/p99 (ms), and errors from ``wrk --latency`` output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rps is None:
        raise ValueError(f"no Requests/sec in wrk output:\n{output}")
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", output, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    total = re.search(r"(\d+) requests in", output)
    return {
        "rps": float(rps.group(1)),
        "p50_ms": _milliseconds(latency["50"]) if "50" in latency else None,
        "p99_ms": _milliseconds(latency["99"]) if "99" in latency else None,
        "requests": int(total.group(1)) if total else None,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


def wrk(url: str, plan: Plan, duration: float) -> dict[str, Any]:
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (Debian package 'wrk')")
    command = [
        binary,
        f"-t{plan.threads}",
        f"-c{plan.connections}",
        f"-d{duration}s",
        "--latency",
        url,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60)
    return parse_wrk(completed.stdout)


def run(plan: Plan, log: Callable[[str], None] = print) -> dict[str, Any]:
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in plan.configs}
    logs = Path(tempfile.mkdtemp(prefix="fleetobs-bench-load-"))
    servers: dict[str, Gunicorn] = {}
    try:
        for name in plan.configs:
            servers[name] = Gunicorn(
                name, SERVERS[name], workers=plan.workers, log=logs / f"{name}.log"
            ).launch()
        for name, server in servers.items():
            server.ensure_ready()
            wrk(server.url + plan.path, plan, 2)  # warm-up
            log(f"load: {name} ready on {server.url}")
        for round_index in range(plan.rounds):
            names = list(plan.configs)
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                server = servers[name]
                workers_before = set(server.worker_pids())
                cpu_before = server.cpu_seconds()
                result = wrk(server.url + plan.path, plan, plan.duration)
                cpu_used = server.cpu_seconds() - cpu_before
                if set(server.worker_pids()) == workers_before and result["requests"]:
                    result["server_cpu_us_per_request"] = round(cpu_used / result["requests"] * 1e6, 1)
                if result["non_2xx"]:
                    raise RuntimeError(f"load: {name} answered {result['non_2xx']} non-2xx responses")
                samples[name].append(result)
                log(f"load: round {round_index + 1} {name}: {result['rps']:.0f} req/s")
                time.sleep(1)
    finally:
        for server in servers.values():
            server.stop()
            server.cleanup()
        shutil.rmtree(logs, ignore_errors=True)
    return summarise(plan, samples)


def summarise(plan: Plan, samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    configs: dict[str, Any] = {}
    for name, runs in samples.items():
        configs[name] = {
            "hooks": SERVERS[name],
            "rps": stats.summary([r["rps"] for r in runs]),
            "p50_ms": stats.summary([r["p50_ms"] for r in runs if r["p50_ms"] is not None], 2),
            "p99_ms": stats.summary([r["p99_ms"] for r in runs if r["p99_ms"] is not None], 2),
            "server_cpu_us_per_request": stats.summary(
                [r["server_cpu_us_per_request"] for r in runs if "server_cpu_us_per_request" in r]
            ),
            "runs": runs,
        }
    bare = configs.get("bare", {}).get("rps", {}).get("median")
    bare_cpu = configs.get("bare", {}).get("server_cpu_us_per_request", {}).get("median")
    for entry in configs.values():
        entry["throughput_vs_bare"] = stats.ratio(entry["rps"].get("median"), bare)
        # What the server CPU per request implies for throughput when CPU is the limit.
        entry["cpu_capacity_vs_bare"] = stats.ratio(
            bare_cpu, entry["server_cpu_us_per_request"].get("median")
        )
    return {
        "workers": plan.workers,
        "worker_class": "sync",
        "wrk": f"-t{plan.threads} -c{plan.connections} -d{plan.duration}s --latency",
        "rounds": plan.rounds,
        "path": plan.path,
        "configs": configs,
    }
