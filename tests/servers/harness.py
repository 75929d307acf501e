"""The test project under a real ASGI server, started as the docs say, and what a user checks.

``Served`` runs ``fleetobs serve SERVER ...`` (or, with ``launcher=False``, the server's own
command, as a user who skipped the launcher would) on a free port, in its own process group, and
knows the server's workers. ``drive`` sends the acceptance load (each request with its own
``traceparent`` and request id); ``scrape_counts`` reads the per-route request counts of one
scrape; ``json_lines`` reads everything the server printed, failing on any line that is not JSON.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sample_app.processes import HttpServerProcess, wait_for_http
from tests.support.procs import HttpReply, TraceSink, child_pids, http_request, pid_alive

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "servers-under-test"
APP = "tests.project.asgi:application"
#: The acceptance routes: path -> (http_route label, status).
ROUTES: dict[str, tuple[str, int]] = {
    "/ok/": ("ok/", 200),
    "/items/7/": ("items/<int:pk>/", 200),
    "/async/ok/": ("async/ok/", 200),
    "/missing/": ("missing/", 404),
}
#: Seconds a server may take to exit after SIGTERM when idle (docs/deployment.md says so).
SIGTERM_BOUND = 10.0
COUNT = re.compile(
    r'^http_server_request_duration_seconds_count\{http_request_method="GET",'
    r'http_response_status_code="(\d+)",http_route="([^"]+)"\} ([0-9.e+]+)$',
    re.MULTILINE,
)


def server_arguments(server: str, port: int, workers: int) -> list[str]:
    """The server's own command line for the test project on 127.0.0.1:``port``."""
    if server == "uvicorn":
        return [APP, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if server == "hypercorn":
        return [APP, "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    if server == "granian":
        return [APP, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if server == "daphne":
        return ["-b", "127.0.0.1", "-p", str(port), APP]
    raise ValueError(server)


class Served(HttpServerProcess):
    """``fleetobs serve SERVER`` (or the bare server) running the test project."""

    ready_path = "/healthz"

    def __init__(
        self,
        server: str,
        *,
        workers: int = 2,
        launcher: bool = True,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.name = server
        base = {
            "DJANGO_SETTINGS_MODULE": "tests.servers.settings",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }
        super().__init__(env={**base, **(env or {})}, cwd=ROOT, **kwargs)
        # Spans are accepted and counted (an unreachable endpoint would make every exit wait
        # for the exporter's retries).
        self.trace_sink = TraceSink()
        self.extra_env.setdefault("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", self.trace_sink.endpoint)
        self.server = server
        self.workers = workers if server != "daphne" else 1
        self.launcher = launcher
        self.extra_args = list(extra_args)

    def command(self) -> list[str]:
        args = [*server_arguments(self.server, self.port, self.workers), *self.extra_args]
        if self.launcher:
            return [sys.executable, "-m", "fleetobs", "serve", self.server, *args]
        return [sys.executable, "-m", self.server, *args]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR", "OTEL_SDK_DISABLED"):
            env.pop(name, None)
        env.update(self.extra_env)
        return env

    def start(self) -> Served:
        self.trace_sink.start()
        try:
            return super().start()
        except BaseException:
            self.trace_sink.stop()
            raise

    def stop(self) -> int | None:
        try:
            return super().stop()
        finally:
            self.trace_sink.stop()

    def wait_ready(self) -> None:
        wait_for_http(self.url + self.ready_path, self.ready_timeout, expect_status=200, process=self.process)
        if self.server != "daphne":
            self.wait_for_workers(self.workers, timeout=self.ready_timeout)

    def worker_pids(self) -> list[int]:
        """The server's worker processes (multiprocessing's resource tracker is not one)."""
        found = []
        for pid in child_pids(self.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"resource_tracker" not in cmdline and pid_alive(pid):
                found.append(pid)
        return found

    def terminate(self, bound: float = SIGTERM_BOUND) -> float:
        """SIGTERM the server's main process (as a container runtime does); seconds to exit."""
        assert self.process is not None
        started = time.monotonic()
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.server} still running {bound:.0f} s after SIGTERM\n{self.log_tail(30)}"
            ) from None
        return time.monotonic() - started


@dataclass(frozen=True)
class Sent:
    """One request of the load: what was asked and what came back."""

    path: str
    request_id: str
    trace_id: str
    status: int


def get(url: str, headers: Mapping[str, str] | None = None) -> HttpReply:
    return http_request(url, headers=headers, timeout=30)


def drive(urls: Sequence[str], count: int = 200, concurrency: int = 8) -> list[Sent]:
    """``count`` requests spread evenly over :data:`ROUTES` and over ``urls`` (servers)."""
    paths = [list(ROUTES)[i % len(ROUTES)] for i in range(count)]

    def one(index: int) -> Sent:
        path = paths[index]
        request_id, trace_id = secrets.token_hex(16), secrets.token_hex(16)
        headers = {"X-Request-ID": request_id, "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
        reply = get(urls[index % len(urls)] + path, headers)
        return Sent(path, request_id, trace_id, reply.status)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, range(count)))


def expected_counts(sent: Iterable[Sent]) -> dict[tuple[str, int], float]:
    return {key: float(n) for key, n in Counter(ROUTES[s.path] for s in sent).items()}


def scrape_counts(url: str) -> dict[tuple[str, int], float]:
    """Requests per (route, status) in one scrape of ``url``/metrics."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"/metrics answered {exc.code}") from exc
    return {(route, int(status)): float(value) for status, route, value in COUNT.findall(text)}


def json_lines(log_path: Path) -> list[dict[str, Any]]:
    """Every line the server wrote (after the harness's own ``$ command`` line), parsed."""
    text = log_path.read_text(errors="replace").splitlines()
    lines = [line for line in text if not line.startswith("$ ")]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    return parsed


def check_output(log_paths: Sequence[Path], sent: Sequence[Sent]) -> list[dict[str, Any]]:
    """Every line JSON with the service's name, one access line per request with its trace id."""
    lines = [line for path in log_paths for line in json_lines(path)]
    assert lines
    unnamed = [line for line in lines if line.get("service", {}).get("name") != SERVICE]
    assert unnamed == [], unnamed[:3]
    access = [line for line in lines if line["log"]["logger"] == "fleetobs.access"]
    by_id = {line["http"]["request"]["id"]: line for line in access}
    assert len(by_id) == len(access), "an access line was written twice"
    assert set(by_id) == {s.request_id for s in sent}
    for request in sent:
        assert by_id[request.request_id]["trace"]["id"] == request.trace_id
        assert by_id[request.request_id]["url"]["path"] == request.path
    server_access = [
        line for line in lines if line["log"]["logger"].endswith(".access") and line not in access
    ]
    assert server_access == [], server_access[:3]
    return lines
