"""The gunicorn hooks never hang, stop or blind the server they run in (real gunicorn).

* SIGTERM, again and again, with workers exiting together: the master always exits. gunicorn 23
  and older run ``child_exit`` inside the SIGCHLD handler itself, where a hook that waited on a
  lock could be re-entered while holding it; both that release and the installed one are run.
* Workers recycled hundreds of times under load (``max_requests`` low, no jitter, several
  exiting at once): no request fails and every route's count in ``/metrics`` equals what the
  client saw; ``fleetobs_build_info`` is 1 although the app was loaded in the master (``--preload``).
* An unwritable metrics directory with a previous run's files, and a metrics port already
  taken: gunicorn starts, serves, and says so once in its log.
"""

from __future__ import annotations

import collections
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.metrics.test_gunicorn_fleet import get
from tests.support.procs import Gunicorn, in_ci

# Each test runs a server many times over; the suite-wide per-test timeout is too short for that
# on a busy machine, and what the tests look for (a master that never exits) is caught by the
# 60-second bound on each exit instead.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_23 = ROOT / ".compat" / "gunicorn23"
ENV = {
    "DJANGO_SETTINGS_MODULE": "tests.settings",
    "OTEL_SDK_DISABLED": "true",
    "FLEETOBS_LOG_LEVEL": "WARNING",
}
ROUTES = {"/ok/": ("ok/", 200), "/items/1/": ("items/<int:pk>/", 200), "/missing/": ("missing/", 404)}
COUNT = re.compile(
    r'^http_server_request_duration_seconds_count\{http_request_method="GET",'
    r'http_response_status_code="(\d+)",http_route="([^"]+)"\} ([0-9.e+]+)$',
    re.MULTILINE,
)


class OldGunicorn(Gunicorn):
    """gunicorn 23 from ``.compat/gunicorn23`` (``make install`` puts it there)."""

    def command(self) -> list[str]:
        return [arg for arg in super().command() if arg != "--no-control-socket"]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["PYTHONPATH"] = os.pathsep.join([str(GUNICORN_23), str(ROOT)])
        return env


def server_class(release: str) -> type[Gunicorn]:
    if release == "installed":
        return Gunicorn
    if not (GUNICORN_23 / "gunicorn").is_dir():
        message = f"gunicorn 23 is not in {GUNICORN_23}: run `make install`"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return OldGunicorn


@pytest.mark.parametrize(("release", "rounds"), [("23", 50), ("installed", 10)])
def test_sigterm_always_stops_the_master(release: str, rounds: int, tmp_path: Path) -> None:
    server = server_class(release)
    stop_times = []
    for round_ in range(rounds):
        # --preload: workers are forked from a loaded app, so each round starts in well under a second.
        app = server(
            "tests.project.wsgi", workers=4, env=ENV, extra_args=["--preload"], workdir=tmp_path / str(round_)
        )
        app.start()
        try:
            load = threading.Event()

            def light_load(url: str = app.url, stop: threading.Event = load) -> None:
                while not stop.is_set():
                    get(url + "/ok/")

            threading.Thread(target=light_load, daemon=True).start()
            assert get(app.url + "/ok/") == 200
            assert app.process is not None
            started = time.monotonic()
            os.kill(app.pid, signal.SIGTERM)
            try:
                app.process.wait(timeout=60)  # a hung master never exits; this bound is only generous
            except subprocess.TimeoutExpired:
                pytest.fail(f"round {round_}: the master did not exit after SIGTERM\n{app.log_tail(30)}")
            stop_times.append(time.monotonic() - started)
            load.set()
        finally:
            app.stop()
    print(f"gunicorn {release}: {rounds} SIGTERMs, slowest exit {max(stop_times):.2f} s")


def scrape(app: Gunicorn) -> str:
    try:
        with urllib.request.urlopen(app.url + "/metrics", timeout=30) as response:
            return str(response.read().decode())
    except urllib.error.HTTPError as exc:
        pytest.fail(f"/metrics answered {exc.code}\n{app.log_tail(60)}")


def scrape_counts(text: str) -> dict[tuple[str, int], float]:
    return {(route, int(status)): float(value) for status, route, value in COUNT.findall(text)}


@pytest.fixture(params=[("23", 420), ("installed", 220)], ids=["23", "installed"])
def recycling_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gunicorn]:
    server = server_class(request.param[0])
    extra = ["--max-requests", "2", "--max-requests-jitter", "0", "--preload"]
    env = {**ENV, "FLEETOBS_LOG_LEVEL": "INFO"}  # gunicorn's "Autorestarting worker" lines are INFO
    with server("tests.project.wsgi", workers=4, env=env, extra_args=extra, workdir=tmp_path) as app:
        app.requests = request.param[1]  # type: ignore[attr-defined]
        yield app


def test_recycling_workers_under_load_loses_nothing(recycling_app: Gunicorn) -> None:
    rng = random.Random(15)
    requests = recycling_app.requests  # type: ignore[attr-defined]
    paths = [rng.choice(list(ROUTES)) for _ in range(requests)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda path: get(recycling_app.url + path), paths))
    failed = [
        (path, status) for path, status in zip(paths, statuses, strict=True) if status != ROUTES[path][1]
    ]
    assert failed == []
    seen = collections.Counter(ROUTES[path] for path in paths)
    recycled = recycling_app.log_path.read_text(errors="replace").count("Autorestarting worker")
    assert recycled >= requests // 2 - 30, recycled  # a worker exit every 2 requests, several at once
    text = scrape(recycling_app)
    counts = scrape_counts(text)
    # The scrape itself is a request too (route "metrics"), which this comparison leaves out.
    assert {key: value for key, value in counts.items() if key[0] != "metrics"} == {
        key: float(n) for key, n in seen.items()
    }
    build = [line for line in text.splitlines() if line.startswith("fleetobs_build_info{")]
    assert build
    assert all(line.endswith(" 1.0") for line in build), build


@pytest.fixture
def read_only_metrics_dir(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs holding a previous run's metrics file, remounted read-only (root only)."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "tmpfs", str(directory)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        message = f"cannot mount a read-only directory here: {mounted.stderr.decode().strip()}"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        (directory / "counter_1.db").write_bytes(b"\0" * 64)
        subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def fleetobs_warnings(app: Gunicorn) -> list[str]:
    return [line for line in app.log_path.read_text(errors="replace").splitlines() if "fleetobs: " in line]


def test_serves_with_an_unwritable_metrics_directory(read_only_metrics_dir: Path, tmp_path: Path) -> None:
    env = {**ENV, "PROMETHEUS_MULTIPROC_DIR": str(read_only_metrics_dir)}
    with Gunicorn("tests.project.wsgi", workers=2, env=env, workdir=tmp_path / "app") as app:
        assert [get(app.url + "/ok/") for _ in range(6)] == [200] * 6
        assert get(app.url + "/metrics") == 503  # says what is wrong, and only there
        warnings = fleetobs_warnings(app)
    assert len(warnings) == 1, warnings
    assert "metrics directory" in warnings[0]


def test_serves_with_the_metrics_port_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env: dict[str, Any] = {
            **ENV,
            "FLEETOBS_METRICS_PORT": str(port),
            "FLEETOBS_METRICS_ADDRESS": "127.0.0.1",
        }
        with Gunicorn("tests.project.wsgi", workers=2, env=env, workdir=tmp_path / "app") as app:
            assert [get(app.url + "/ok/") for _ in range(4)] == [200] * 4
            assert get(app.url + "/metrics") == 200
            warnings = fleetobs_warnings(app)
    assert len(warnings) == 1, warnings
    assert f"no metrics port 127.0.0.1:{port}" in warnings[0]
