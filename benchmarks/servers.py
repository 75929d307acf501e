"""Starting and stopping real gunicorn servers for the load and scrape benchmarks.

The free port comes from :mod:`sample_app.processes`, the launcher the demo and the tests share.
This :class:`Gunicorn` is not that one yet, on purpose for now: it starts every server of a run
before waiting for any (they boot side by side), throws the servers' standard output away (a log
file would add its writes to what is measured), and leaves ``PROMETHEUS_MULTIPROC_DIR`` unset for
the stacks that do not use one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

from sample_app.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONFIGS = {
    "ours": "python:benchmarks.project.gunicorn_ours",
    "stock": "python:benchmarks.project.gunicorn_stock",
    "bare": "python:benchmarks.project.gunicorn_bare",
}


def children(pid: int) -> set[int]:
    """The child processes of ``pid`` (gunicorn's workers), from /proc."""
    found: set[int] = set()
    task_dir = Path(f"/proc/{pid}/task")
    with contextlib.suppress(OSError):
        for task in task_dir.iterdir():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (task / "children").read_text().split())
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Gunicorn:
    """One gunicorn server: ``with Gunicorn(...) as server: server.url``."""

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
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            GUNICORN_CONFIGS[hooks],
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
        ]
        if preload:
            command.append("--preload")
        command.append("benchmarks.project.wsgi:application")
        environment = dict(os.environ)
        for key in (
            "PROMETHEUS_MULTIPROC_DIR",
            "FLEETOBS_CREATED_MULTIPROC_DIR",
            "FLEETOBS_BENCH_CREATED_DIR",
        ):
            environment.pop(key, None)
        environment.update(
            {
                "FLEETOBS_BENCH_CONFIG": config,
                "DJANGO_SETTINGS_MODULE": "benchmarks.project.settings",
                "FLEETOBS_BENCH_URLCONF": urlconf,
                "PYTHONPATH": str(ROOT),
            }
        )
        environment.update(env or {})
        self._log: IO[Any] = log.open("ab") if log is not None else open(os.devnull, "wb")  # noqa: SIM115
        # Standard output (this project's and the anchors' log lines) goes to /dev/null.
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=self._log
        )

    def wait_ready(self, path: str = "/trivial/", timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=5) as answer:
                    if answer.status == 200 and len(children(self.process.pid)) >= self.workers:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn on {self.url} not ready after {timeout:.0f} s")

    def worker_pids(self) -> set[int]:
        return children(self.process.pid)

    def cpu_seconds(self) -> float:
        """CPU time used so far by the master and its current workers."""
        return sum(cpu_seconds(pid) for pid in {self.process.pid, *self.worker_pids()})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> Gunicorn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
