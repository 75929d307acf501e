"""Real gunicorn servers for the load and scrape benchmarks.

:class:`Gunicorn` is the launcher the demo and the tests use (:mod:`sample_app.processes`), set
up for measuring: the servers' standard output (the log lines of this project and of the
anchors) goes to ``/dev/null``, since a log file would add its writes to what is measured;
Python buffers standard output as in production (no ``PYTHONUNBUFFERED``); and
``PROMETHEUS_MULTIPROC_DIR`` is left to each stack's own gunicorn config. :meth:`launch` starts
a server without waiting, so every server of a run boots side by side before any is waited for.
"""

from __future__ import annotations

import os
from pathlib import Path

from sample_app import processes

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONFIGS = {
    "ours": "python:benchmarks.project.gunicorn_ours",
    "stock": "python:benchmarks.project.gunicorn_stock",
    "bare": "python:benchmarks.project.gunicorn_bare",
}
#: Left over from a run in this shell, they would point a server at another run's files.
_NOT_INHERITED = ("PROMETHEUS_MULTIPROC_DIR", "FLEETOBS_CREATED_MULTIPROC_DIR", "FLEETOBS_BENCH_CREATED_DIR")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Gunicorn(processes.Gunicorn):
    """One benchmark configuration under gunicorn (sync workers), ready when ``ready_path``
    answers 200 and every worker has booted."""

    def __init__(
        self,
        config: str,
        hooks: str,
        *,
        workers: int = 2,
        preload: bool = False,
        urlconf: str = "app",
        env: dict[str, str] | None = None,
        log: Path | None = None,
        ready_path: str = "/trivial/",
    ) -> None:
        environment = {
            "FLEETOBS_BENCH_CONFIG": config,
            "FLEETOBS_BENCH_URLCONF": urlconf,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "",  # empty: Python's own buffering, as in production
            **(env or {}),
        }
        arguments = ["--worker-class", "sync", "--log-level", "warning"]
        if preload:
            arguments.append("--preload")
        super().__init__(
            "benchmarks.project.wsgi",
            workers=workers,
            env=environment,
            config=GUNICORN_CONFIGS[hooks],
            extra_args=arguments,
            settings="benchmarks.project.settings",
            ready_status=200,
            multiproc="PROMETHEUS_MULTIPROC_DIR" in environment,
            cwd=ROOT,
            discard_stdout=True,
            ready_timeout=120.0,
        )
        self.ready_path = ready_path
        if log is not None:
            self.log_path = log

    def environment(self) -> dict[str, str]:
        env = super().environment()
        for name in _NOT_INHERITED:
            if name not in self.extra_env:
                env.pop(name, None)
        return env

    def cpu_seconds(self) -> float:
        """CPU time used so far by the master and its current workers."""
        return sum(cpu_seconds(pid) for pid in {self.pid, *self.worker_pids()})
