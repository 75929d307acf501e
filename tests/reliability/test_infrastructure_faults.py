"""Faults of the machine and the shared services: the metrics directory, Redis, PostgreSQL.

Metrics directory (``PROMETHEUS_MULTIPROC_DIR``), two ways it breaks in production:

* **unwritable**: while gunicorn runs, the directory is moved away and a regular file put at
  its path, then every worker is replaced, so the new workers cannot create their metric files
  (``NotADirectoryError``; we run as root, which ignores permission bits, so a path that cannot
  hold files is the honest way to get an unwritable directory). Requests must keep succeeding;
  once the directory is back, new requests are counted again, without a restart.
* **full**: the directory is a 1 MiB tmpfs that is then filled up (root can mount one; the test
  is skipped elsewhere, failed under CI). The files prometheus_client maps into memory are
  sparse, so a worker that writes a new page on a full filesystem is killed with SIGBUS.

Redis and PostgreSQL are stopped for a few seconds during traffic and started again with the
commands of the environment (always in ``finally``; PostgreSQL runs a dedicated database,
``fleetobs_reliability``). Requests that need the missing service fail the way Django makes
them fail (500); nothing else does; the instrumentation counts the errors; after the restart the
same application instance serves and measures those routes again.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.conftest import unavailable
from tests.reliability.harness import (
    STEADY_PATHS,
    Load,
    PhaseStats,
    assert_requests_unaffected,
    get_field,
    json_lines,
    make_shop_database,
    max_rss,
    request,
    sample_sum,
    scrape,
    shop_env,
    wait_until,
)
from tests.support.procs import Gunicorn

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COUNT = "http_server_request_duration_seconds_count"
COUNTED_PATHS = tuple(p for p in STEADY_PATHS if p != "/healthz")
DB_PATHS = ("/shop/products/?page=1&size=10", "/shop/products/1/", "/shop/products/2/")
CACHE_PATH = "/shop/categories/summary/"
PG_DATABASE = "fleetobs_reliability"
PG_URL = f"postgresql://postgres@127.0.0.1:5432/{PG_DATABASE}"
REDIS_URL = "redis://127.0.0.1:6379/15"
MEMORY_BOUND = 48 * 1024 * 1024


def _count_sequential(app: Gunicorn, n: int = 30) -> float:
    """Make ``n`` requests one by one; return how much the scraped request total grew."""
    before = sample_sum(scrape(app.url), COUNT)
    for index in range(n):
        reply = request(app.url, COUNTED_PATHS[index % len(COUNTED_PATHS)])
        assert reply.status == 200, reply
    return sample_sum(scrape(app.url), COUNT) - before


def _internal_errors(app: Gunicorn) -> list[dict]:
    return [e for e in json_lines(app.log_path) if get_field(e, "log.logger") == "fleetobs.internal"]


# --- the metrics directory ---------------------------------------------------------------------
def test_unwritable_metrics_directory(private_database: Path, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    away = tmp_path / "metrics-moved-away"
    env = shop_env(
        private_database,
        OTEL_SDK_DISABLED="true",
        FLEETOBS_LOG_LEVEL="WARNING",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    with Gunicorn("sample_app.wsgi", workers=2, env=env, workdir=tmp_path / "app") as app:
        with Load(app.url, COUNTED_PATHS, rate=20, threads=3) as load:
            healthy = load.run_phase("healthy", 2.5)
            metrics_dir.rename(away)
            metrics_dir.write_text("a file where the metrics directory should be\n")
            try:
                for pid in app.worker_pids():
                    app.kill_worker(pid, signal.SIGKILL)  # replacements must create their files now
                # The replacements boot the app first: on a busy machine that can take longer
                # than the phase, which would then measure nothing.
                assert wait_until(lambda: request(app.url, "/healthz").status == 200, 120)
                fault = load.run_phase("unwritable", 3.0)
                during = request(app.url, "/metrics").status
            finally:
                metrics_dir.unlink()
                away.rename(metrics_dir)
        counted = _count_sequential(app)
        text = scrape(app.url)
        workers_gauge = sample_sum(text, "fleetobs_server_workers")
        files = sorted(p.name for p in metrics_dir.glob("*.db"))
        internal = _internal_errors(app)
        print("workers gauge", workers_gauge, "files", files, "live", app.worker_pids())
    print(healthy, fault, f"/metrics during the fault: {during}", sep="\n")
    assert_requests_unaffected(fault, healthy)
    assert counted == 30, f"after the directory came back, 30 requests were counted as {counted}"
    assert internal, "the metrics failure was not reported in the log"
    assert all(get_field(e, "log.level") == "warning" for e in internal)


@contextlib.contextmanager
def _tiny_tmpfs(path: Path, size: str = "1m") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mount = shutil.which("mount")
    result = subprocess.run(
        [mount or "mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        unavailable(f"cannot mount a tmpfs to fill (needs root): {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb") as handle:
        with contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
    return filler


def test_full_metrics_directory(private_database: Path, tmp_path: Path) -> None:
    with _tiny_tmpfs(tmp_path / "metrics") as metrics_dir:
        env = shop_env(
            private_database,
            OTEL_SDK_DISABLED="true",
            FLEETOBS_LOG_LEVEL="WARNING",
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        )
        with Gunicorn("sample_app.wsgi", workers=2, env=env, workdir=tmp_path / "app") as app:
            with Load(app.url, COUNTED_PATHS, rate=20, threads=3) as load:
                healthy = load.run_phase("healthy", 2.5)
                filler = _fill(metrics_dir)
                try:
                    for pid in app.worker_pids():
                        app.kill_worker(pid, signal.SIGKILL, wait=False)
                    time.sleep(1.0)
                    fault = load.run_phase("full", 3.0)
                    master_alive = app.running
                finally:
                    filler.unlink()
            print(healthy, fault, f"gunicorn master alive after the fault: {master_alive}", sep="\n")
            # Seen here: the master itself dies of SIGBUS when it merges a dead worker's counters
            # into the merged file (instrumentation.metrics.multiprocess.mark_process_dead).
            assert master_alive, "the gunicorn master died while the metrics directory was full"
            assert_requests_unaffected(fault, healthy)
            assert wait_until(lambda: len(app.worker_pids()) == 2, 30)
            assert _count_sequential(app) == 30


# --- Redis and PostgreSQL ------------------------------------------------------------------------
def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, check=False, timeout=60)


def redis_up() -> bool:
    return _run("redis-cli", "-h", "127.0.0.1", "ping").stdout.strip() == "PONG"


def start_redis() -> None:
    if redis_up():
        return
    Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
    Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
    _run(
        "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
        "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
    )  # fmt: skip
    if not wait_until(redis_up, 20):
        raise RuntimeError("Redis did not come back")


def stop_redis() -> None:
    _run("redis-cli", "-h", "127.0.0.1", "shutdown", "nosave")
    wait_until(lambda: not redis_up(), 10)


def _pg_version() -> str:
    versions = (
        sorted(p.name for p in Path("/etc/postgresql").iterdir()) if Path("/etc/postgresql").is_dir() else []
    )
    if not versions:
        unavailable("PostgreSQL is not installed here (/etc/postgresql is missing)")
    return versions[-1]


def pg_up() -> bool:
    return _run("pg_isready", "-h", "127.0.0.1", "-p", "5432").returncode == 0


def pg_ctl(action: str) -> None:
    _run("pg_ctlcluster", "--skip-systemctl-redirect", _pg_version(), "main", action)


def start_postgres() -> None:
    if not pg_up():
        pg_ctl("start")
    if not wait_until(pg_up, 30):
        raise RuntimeError("PostgreSQL did not come back")


@pytest.fixture(scope="module")
def services_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """The shop on PostgreSQL (its own database) and Redis, three workers."""
    if shutil.which("redis-server") is None or not redis_up():
        unavailable("Redis is not running on 127.0.0.1:6379")
    _pg_version()
    if not pg_up():
        unavailable("PostgreSQL is not running on 127.0.0.1:5432")
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {PG_DATABASE}")
    workdir = tmp_path_factory.mktemp("services")
    make_shop_database(workdir / "unused", DATABASE_URL=PG_URL)
    env = shop_env(
        None,
        OTEL_SDK_DISABLED="true",
        FLEETOBS_LOG_LEVEL="WARNING",
        DATABASE_URL=PG_URL,
        REDIS_URL=REDIS_URL,
        SHOP_CELERY_EAGER="1",
    )
    with Gunicorn("sample_app.wsgi", workers=3, env=env, workdir=workdir / "app") as app:
        yield app


def test_redis_restart_during_traffic(services_app: Gunicorn) -> None:
    app = services_app
    with Load(app.url, (*DB_PATHS, CACHE_PATH, "/healthz"), rate=20, threads=3) as load:
        healthy = load.run_phase("healthy", 2.5)
        before = scrape(app.url)
        rss_before = max_rss(app.worker_pids())
        try:
            stop_redis()
            outage = load.run_phase("redis-down", 2.5)
        finally:
            start_redis()
        during = scrape(app.url)
        recovered = _recovered(load, "redis-recovered", CACHE_PATH)
    after = scrape(app.url)
    assert max_rss(app.worker_pids()) - rss_before < MEMORY_BOUND
    print(healthy, outage, recovered, sep="\n")
    samples = load.of("redis-down")
    others = [s for s in samples if s.path != CACHE_PATH]
    assert others, "no traffic to routes that do not use the cache"
    assert all(s.status == 200 for s in others), {(s.path, s.status) for s in others if s.status != 200}
    assert all(s.status in {200, 500} for s in samples), "a request got no HTTP answer during the outage"
    errors = "fleetobs_cache_operations_total"
    assert sample_sum(during, errors, cache_result="error") > sample_sum(before, errors, cache_result="error")
    assert recovered.success_rate >= 0.99, recovered
    served = sum(sample_sum(after, errors, cache_result=r) for r in ("hit", "miss"))
    assert served > sum(sample_sum(during, errors, cache_result=r) for r in ("hit", "miss"))


def _recovered(load: Load, phase: str, path: str, timeout: float = 30.0) -> PhaseStats:
    """Run ``phase`` until ``path`` answered 200 five times in a row, then summarise it."""
    load.phase = f"{phase}-settling"

    def healthy_again() -> bool:
        recent = [s for s in load.of(f"{phase}-settling") if s.path == path][-5:]
        return len(recent) == 5 and all(s.status == 200 for s in recent)

    assert wait_until(healthy_again, timeout), f"{path} did not recover within {timeout:.0f}s"
    return load.run_phase(phase, 2.0)


def test_postgresql_restart_during_traffic(services_app: Gunicorn) -> None:
    app = services_app
    with Load(app.url, (*DB_PATHS, "/healthz"), rate=20, threads=3) as load:
        healthy = load.run_phase("healthy", 2.5)
        before = scrape(app.url)
        rss_before = max_rss(app.worker_pids())
        try:
            pg_ctl("stop")
            assert wait_until(lambda: not pg_up(), 20)
            outage = load.run_phase("pg-down", 2.5)
            ready = request(app.url, "/readyz").status
        finally:
            start_postgres()
        during = scrape(app.url)
        recovered = _recovered(load, "pg-recovered", DB_PATHS[1])
    after = scrape(app.url)
    assert max_rss(app.worker_pids()) - rss_before < MEMORY_BOUND
    print(healthy, outage, recovered, f"/readyz during the outage: {ready}", sep="\n")
    samples = load.of("pg-down")
    probes = [s for s in samples if s.path == "/healthz"]
    assert probes
    assert all(s.status == 200 for s in probes), "liveness failed because the database was down"
    assert all(s.status in {200, 500} for s in samples), "a request got no HTTP answer during the outage"
    assert ready == 503
    errors = sample_sum(during, "fleetobs_db_connection_errors_total") + sample_sum(
        during, "fleetobs_db_errors_total"
    )
    assert errors > sample_sum(before, "fleetobs_db_connection_errors_total") + sample_sum(
        before, "fleetobs_db_errors_total"
    ), "database errors were not counted"
    assert recovered.success_rate >= 0.99, recovered
    queries = "db_client_operation_duration_seconds_count"
    assert sample_sum(after, queries) > sample_sum(during, queries), "queries after the restart not measured"
    assert request(app.url, "/readyz").status == 200
