"""Metrics under a real gunicorn with several workers, scraped by a real Prometheus.

The acceptance bar: a scrape of one instance is the exact sum over its workers, also after a
worker is killed with SIGKILL; hostile traffic adds a bounded number of series; the exposition
passes ``promtool check metrics``; dead workers' files do not pile up.
"""

from __future__ import annotations

import collections
import random
import re
import signal
import string
import subprocess
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.procs import Gunicorn, Prometheus, require_binary, static_scrape_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROUTES = {
    "/shop/products/": "shop/products/",
    "/shop/products/1/": "shop/products/<int:pk>/",
    "/shop/products/2/": "shop/products/<int:pk>/",
    "/shop/categories/summary/": "shop/categories/summary/",
}
COUNT_SERIES = re.compile(
    r'^http_server_request_duration_seconds_count\{http_request_method="GET",'
    r'http_response_status_code="200",http_route="([^"]+)"\} ([0-9.e+]+)$',
    re.MULTILINE,
)


def get(url: str, method: str = "GET") -> int | None:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)
    except OSError:
        return None  # connection reset by a killed worker: not a completed request


def drive(base: str, paths: list[str], counts: collections.Counter[str]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        for path, status in zip(paths, pool.map(lambda p: get(base + p), paths), strict=True):
            if status == 200:
                counts[ROUTES[path]] += 1


def scrape(base: str) -> str:
    with urllib.request.urlopen(base + "/metrics", timeout=30) as response:
        return str(response.read().decode())


def scraped_counts(text: str) -> dict[str, float]:
    return {route: float(value) for route, value in COUNT_SERIES.findall(text)}


def test_exact_counts_across_workers_and_a_killed_worker(shop_env: dict[str, str], workdir: Path) -> None:
    rng = random.Random(7)
    paths = [rng.choice(list(ROUTES)) for _ in range(2000)]
    counts: collections.Counter[str] = collections.Counter()
    with Gunicorn("sample_app.wsgi", workers=4, env=shop_env, workdir=workdir / "gunicorn") as app:
        drive(app.url, paths[:1000], counts)
        victim = app.worker_pids()[0]
        app.kill_worker(victim, signal.SIGKILL)  # the master merges its files in child_exit
        drive(app.url, paths[1000:], counts)
        assert sum(counts.values()) == 2000
        text = scrape(app.url)
        assert scraped_counts(text) == {route: float(n) for route, n in counts.items()}

        promtool = require_binary("promtool")
        checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr

        scrape_config = static_scrape_config("shop", [app.address], labels={"environment": "test"})
        with Prometheus([scrape_config], workdir=workdir / "prometheus") as prometheus:
            prometheus.wait_for_targets_up(1)
            prometheus.wait_for_query('count(http_server_request_duration_seconds_count{job="shop"})')
            rows = prometheus.query(
                'sum by (http_route) (http_server_request_duration_seconds_count{job="shop",'
                'http_response_status_code="200",http_route!~"metrics|healthz"})'
            )
            seen = {row["metric"]["http_route"]: float(row["value"][1]) for row in rows}
            assert seen == {route: float(n) for route, n in counts.items()}


def random_path(rng: random.Random) -> str:
    depth = rng.randint(1, 6)
    return "/" + "/".join(
        "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(1, 40))) for _ in range(depth)
    )


def test_hostile_paths_and_methods_keep_series_bounded(shop_env: dict[str, str], workdir: Path) -> None:
    rng = random.Random(11)
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "get", "FOO", "PROPFIND", "M" * 30, "BREW"]
    with Gunicorn("sample_app.wsgi", workers=4, env=shop_env, workdir=workdir / "gunicorn") as app:
        before = scrape(app.url)
        requests = [(random_path(rng), rng.choice(methods)) for _ in range(10_000)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda item: get(app.url + item[0], item[1]), requests))
        after = scrape(app.url)

    def series(text: str) -> set[str]:
        return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}

    added = series(after) - series(before)
    routes = {m.group(1) for m in re.finditer(r'http_route="([^"]*)"', "\n".join(added))}
    statuses = {m.group(1) for m in re.finditer(r'http_response_status_code="([^"]*)"', "\n".join(added))}
    http_methods = {m.group(1) for m in re.finditer(r'http_request_method="([^"]*)"', "\n".join(added))}
    assert routes <= {"<unmatched>"}, routes
    assert http_methods <= {"GET", "POST", "PUT", "DELETE", "PATCH", "_OTHER"}, http_methods
    assert len(statuses) <= 3, statuses
    # 6 methods x a few statuses x (duration buckets + sizes): a handful of label sets.
    label_sets = {re.sub(r',?le="[^"]*"', "", s.split("{", 1)[1]) for s in added if "{" in s}
    assert len(label_sets) <= 40, sorted(label_sets)


def test_worker_restarts_do_not_pile_up_files(shop_env: dict[str, str], workdir: Path) -> None:
    with Gunicorn(
        "sample_app.wsgi", workers=4, env=shop_env, workdir=workdir / "gunicorn", extra_args=["--preload"]
    ) as app:
        for _ in range(3):
            get(app.url + "/shop/products/")
        files_before = sorted(p.name for p in app.multiproc_dir.glob("*.db"))
        for _ in range(100):
            victim = app.worker_pids()[0]
            app.kill_worker(victim, signal.SIGTERM)
            get(app.url + "/shop/products/1/")
        text = scrape(app.url)
        files_after = sorted(p.name for p in app.multiproc_dir.glob("*.db"))
    assert scraped_counts(text)["shop/products/<int:pk>/"] == 100.0
    per_type = collections.Counter(
        name.split("_", 1)[0] for name in files_after if not name.startswith("gauge")
    )
    # One file per live worker plus the merged one, whatever the number of restarts.
    assert all(n <= 5 for n in per_type.values()), files_after
    assert len(files_after) <= len(files_before) + 10, (files_before, files_after)
