"""Shared machinery of the reliability suite: a seeded shop, paced load, scrapes, process stats.

::

    shop_database(dir)        a migrated and seeded SQLite file of the sample shop (made once,
                              copied per test module)
    shop_env(db, **extra)     environment for a gunicorn of the sample shop under the suite's
                              settings module (``tests.reliability.shop_settings``)
    Load                      threads sending paced requests; every request carries an
                              ``X-Request-ID`` naming its phase; per-phase success rate and p99
    scrape / sample_sum       one ``/metrics`` scrape, summed over the series matching labels
    process_stats             RSS, open file descriptors and threads of a pid (Linux /proc)
    json_lines / get_field    the JSON lines a gunicorn wrote (its log file), dotted field access

Latency comparisons are deliberately generous (:func:`assert_latency_close`): these tests run
on small machines shared with other work, and the faults they look for (a request thread that
waits on a dead backend) cost seconds, not milliseconds.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import math
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
SHOP_SETTINGS = "tests.reliability.shop_settings"
BARE_SETTINGS = "tests.reliability.bare_settings"
#: Routes that answer 200 without side effects: the steady load of the fault tests.
STEADY_PATHS = (
    "/shop/products/?page=1&size=10",
    "/shop/products/?page=2&size=10",
    "/shop/products/1/",
    "/shop/products/2/",
    "/shop/products/3/",
    "/shop/categories/summary/",
    "/healthz",
)


# --- the shop -----------------------------------------------------------------------------------
def _manage(args: list[str], env: Mapping[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sample_app", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO,
    )
    if result.returncode != 0:
        raise RuntimeError(f"python -m sample_app {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


def base_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that would point the shop elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "FLEETOBS_", "SHOP_", "PROMETHEUS_MULTIPROC"))
        and k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def make_shop_database(directory: Path, **extra: str) -> Path:
    """Migrate and seed a fresh SQLite shop in ``directory`` (or the DATABASE_URL in ``extra``)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "shop.sqlite3"
    env = base_env(DJANGO_SETTINGS_MODULE="sample_app.settings", SHOP_SQLITE_PATH=str(path), **extra)
    env["OTEL_SDK_DISABLED"] = "true"
    env["FLEETOBS_LOG_LEVEL"] = "WARNING"
    _manage(["migrate", "--noinput", "-v", "0"], env)
    _manage(["seed"], env)
    return path


def copy_database(source: Path, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "shop.sqlite3"
    shutil.copyfile(source, target)
    return target


def shop_env(
    database: Path | None,
    *,
    fleetobs: Mapping[str, Any] | None = None,
    settings: str = SHOP_SETTINGS,
    **extra: str,
) -> dict[str, str]:
    """Environment of a sample-shop gunicorn; ``fleetobs`` is merged into FLEET_OBSERVABILITY."""
    env = base_env(
        DJANGO_SETTINGS_MODULE=settings,
        SHOP_FAILURE_RATE="0",
        SHOP_SERVICE_NAME="shop",
        FLEETOBS_ENVIRONMENT="reliability",
        RELIABILITY_FLEETOBS=json.dumps(dict(fleetobs or {})),
    )
    if database is not None:
        env["SHOP_SQLITE_PATH"] = str(database)
    env.update(extra)
    return env


# --- HTTP ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def request(
    base_url: str,
    path: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 15.0,
) -> Reply:
    """One request on a fresh connection; header names are lower-cased in the reply."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        names = {name.lower() for name in (headers or {})}
        connection.putrequest(method, path, skip_host="host" in names, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read()
        merged: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            merged[key] = f"{merged[key]}\n{value}" if key in merged else value  # Set-Cookie repeats
        return Reply(response.status, merged, data)
    finally:
        connection.close()


def raw_request(address: tuple[str, int], data: bytes, timeout: float = 15.0) -> bytes:
    """Send raw bytes (invalid UTF-8, bare CR...) and return everything the server answers."""
    import socket

    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


# --- load ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    phase: str
    path: str
    request_id: str
    started: float
    latency: float
    status: int | None
    trace_id: str | None


@dataclass
class PhaseStats:
    phase: str
    count: int
    ok: int
    p50: float
    p99: float
    statuses: Counter[int | None] = field(default_factory=Counter)

    @property
    def success_rate(self) -> float:
        return self.ok / self.count if self.count else 0.0

    def __str__(self) -> str:
        return (
            f"{self.phase}: {self.count} requests, {self.success_rate:.1%} ok, "
            f"p50 {self.p50 * 1000:.0f} ms, p99 {self.p99 * 1000:.0f} ms, statuses {dict(self.statuses)}"
        )


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    index = max(0, math.ceil(q * len(ordered)) - 1)
    return ordered[index]


class Load:
    """``threads`` clients sharing a paced schedule of ``rate`` requests per second.

    ``paths`` is a sequence picked from at random, or a function of a ``random.Random``.
    Set :attr:`phase` to label what follows; :meth:`stats` summarises one phase.
    """

    def __init__(
        self,
        base_url: str,
        paths: Sequence[str] | Callable[[random.Random], str] = STEADY_PATHS,
        *,
        rate: float = 25.0,
        threads: int = 4,
        timeout: float = 15.0,
        ok_statuses: frozenset[int] = frozenset({200}),
        seed: int = 10,
    ) -> None:
        self.base_url = base_url
        self._paths = paths
        self.rate = rate
        self.threads = threads
        self.timeout = timeout
        self.ok_statuses = ok_statuses
        self.phase = "warmup"
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._next = time.monotonic()
        self._counter = itertools.count()
        self._workers: list[threading.Thread] = []
        self._seed = seed

    def _slot(self) -> bool:
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now)
            self._next = slot + 1.0 / self.rate
        return not self._stop.wait(max(0.0, slot - now))

    def _run(self, index: int) -> None:
        rng = random.Random(self._seed + index)
        while self._slot():
            phase = self.phase
            path = self._paths(rng) if callable(self._paths) else rng.choice(self._paths)
            request_id = f"rel-{phase}-{next(self._counter)}"
            started = time.monotonic()
            status: int | None
            trace_id: str | None = None
            try:
                reply = request(
                    self.base_url, path, headers={"X-Request-ID": request_id}, timeout=self.timeout
                )
                status = reply.status
                trace_id = reply.headers.get("x-trace-id")
            except (OSError, http.client.HTTPException):
                status = None
            sample = Sample(phase, path, request_id, started, time.monotonic() - started, status, trace_id)
            with self._lock:
                self.samples.append(sample)

    def start(self) -> Load:
        for index in range(self.threads):
            thread = threading.Thread(target=self._run, args=(index,), name=f"rel-load-{index}", daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(self.timeout + 5)
        self._workers.clear()

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_phase(self, phase: str, seconds: float) -> PhaseStats:
        """Label the next ``seconds`` of traffic ``phase``, wait, and summarise it."""
        self.phase = phase
        time.sleep(seconds)
        self.phase = f"after-{phase}"
        time.sleep(0.05)
        return self.stats(phase)

    def of(self, phase: str) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if s.phase == phase]

    def stats(self, phase: str) -> PhaseStats:
        samples = self.of(phase)
        latencies = [s.latency for s in samples]
        ok = sum(1 for s in samples if s.status in self.ok_statuses)
        return PhaseStats(
            phase,
            len(samples),
            ok,
            percentile(latencies, 0.5),
            percentile(latencies, 0.99),
            Counter(s.status for s in samples),
        )


def assert_latency_close(
    fault: PhaseStats, baseline: PhaseStats, *, factor: float = 4.0, slack: float = 1.0
) -> None:
    """p99 under a fault stays within ``factor`` x the healthy p99, or ``slack`` seconds above it."""
    bound = max(factor * baseline.p99, baseline.p99 + slack)
    assert fault.p99 <= bound, f"p99 moved beyond noise: {fault} vs healthy {baseline} (bound {bound:.3f}s)"


def assert_requests_unaffected(fault: PhaseStats, baseline: PhaseStats, *, minimum: int = 20) -> None:
    assert fault.count >= minimum, f"too little traffic to judge: {fault}"
    assert fault.success_rate >= 0.99, f"requests failed under the fault: {fault} (healthy: {baseline})"
    assert_latency_close(fault, baseline)


# --- metrics ------------------------------------------------------------------------------------
def scrape(base_url: str, *, headers: Mapping[str, str] | None = None) -> str:
    reply = request(base_url, "/metrics", headers=headers, timeout=30)
    if reply.status != 200:
        raise AssertionError(f"/metrics answered {reply.status}: {reply.body[:300]!r}")
    return reply.body.decode()


def sample_sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels`` (0 when none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def series_count(text: str, prefix: str = "") -> int:
    """Number of sample lines (series) in an exposition, optionally of names with ``prefix``."""
    return sum(
        1
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith(prefix)
    )


def telemetry(text: str, signal: str) -> dict[str, float]:
    """The pipeline counters of one signal: exported, failures and dropped (by reason and total)."""
    result = {
        "exported": sample_sum(text, "fleetobs_telemetry_exported_total", signal=signal),
        "failures": sample_sum(text, "fleetobs_telemetry_export_failures_total", signal=signal),
        "dropped": sample_sum(text, "fleetobs_telemetry_dropped_total", signal=signal),
    }
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "fleetobs_telemetry_dropped_total" and sample.labels.get("signal") == signal:
                key = f"dropped:{sample.labels.get('reason')}"
                result[key] = result.get(key, 0.0) + sample.value
    return result


# --- processes ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProcessStats:
    pid: int
    rss_bytes: int
    fds: int
    threads: int


def process_stats(pid: int) -> ProcessStats | None:
    """RSS, open fds and threads of ``pid`` from /proc; ``None`` if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    values = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        values[key] = rest.strip()
    rss_kib = int(values.get("VmRSS", "0 kB").split()[0])
    return ProcessStats(pid, rss_kib * 1024, fds, int(values.get("Threads", "0")))


def max_rss(pids: Sequence[int]) -> int:
    stats = [process_stats(pid) for pid in pids]
    return max((s.rss_bytes for s in stats if s is not None), default=0)


def directory_size(path: Path) -> tuple[int, int]:
    """(bytes allocated, files) under ``path``; (0, 0) when it is missing."""
    total = files = 0
    with contextlib.suppress(OSError):
        for entry in path.iterdir():
            with contextlib.suppress(OSError):
                st = entry.stat()
                total += st.st_blocks * 512
                files += 1
    return total, files


# --- logs ---------------------------------------------------------------------------------------
def stdout_lines(log_path: Path) -> list[str]:
    """Lines a managed gunicorn wrote, without the ``$ command`` line the helper puts first."""
    text = log_path.read_bytes().decode("utf-8", errors="strict")
    # Split on newlines only: U+2028 and friends are legal inside a JSON string.
    return [line for line in text.split("\n") if line and not line.startswith("$ ")]


def json_lines(log_path: Path) -> Iterator[dict[str, Any]]:
    """Every stdout line parsed; raises AssertionError naming the first line that is not JSON."""
    for number, line in enumerate(stdout_lines(log_path), 1):
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise AssertionError(f"line {number} of {log_path} is not JSON: {line[:300]!r}") from exc
        if not isinstance(value, dict):
            raise AssertionError(f"line {number} of {log_path} is not an object: {line[:300]!r}")
        yield value


def get_field(event: Mapping[str, Any], dotted: str) -> Any:
    value: Any = event
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
