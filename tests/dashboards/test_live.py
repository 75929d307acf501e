"""Every Prometheus query of every dashboard returns data from a real Prometheus scraping the sample fleet.

The module starts the sample fleet (two gunicorn instances of the shop, two workers each, a real
Prometheus scraping them every second), drives the shop's realistic traffic mix through it with
the flaky endpoint failing often (so 5xx responses, exceptions, N+1 requests, cache hits and
misses, slow requests and orders all happen), then expands each target the way Grafana would:
``$job`` = the sample service, ``$instance``/``$environment``/``$route`` = the ``All`` value
``.+``, the SLO variables at their dashboard defaults, ``$__rate_interval`` a few scrape
intervals, ``$__range`` the last five minutes. Each expression goes to the real Prometheus
(which also parses it: a syntax error is reported as such); a target with an empty result is a
dead panel. Week-over-week targets (``offset 1w``) are evaluated a week in the future, where
their offset lands on the data just scraped. Dead panels are listed by dashboard and title.
Requests are traced (spans go to a discarding OTLP endpoint), so latency panels marked for
exemplars must also get exemplars with a ``trace_id`` from Prometheus.

Panels that need signals the sample fleet cannot produce are listed in :data:`ALLOWED_DEAD` with
the reason; any other dead panel fails the test. To give the database error panels data, two
extra one-worker instances join the fleet with a database that refuses connections and one whose
queries fail (PostgreSQL with an empty ``search_path``). To give the task panels data, the
instances queue their orders on a Redis broker and a real Celery worker, scraped under the same
job, processes them; the error burst of the fault switch makes some order tasks retry and some
fail for good.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dashboards import generate, provisioning, uids
from sample_app.fleet import GUNICORN_CONFIG, SETTINGS_MODULE, WSGI_MODULE, Fleet
from sample_app.traffic import LoadGenerator
from tests.dashboards import walk
from tests.support.fixtures import (  # noqa: F401 - fleet_factory is a pytest fixture
    FleetFactory,
    TaskWorker,
    fleet_factory,
    start_task_worker,
)
from tests.support.procs import Gunicorn, free_port, http_request, in_ci

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVICE = "shop"
ENVIRONMENT = "test"
RATE_INTERVAL = "10s"
RANGE = "5m"
RANGE_SECONDS = "300"
WEEK = 7 * 24 * 3600
#: What must have happened before the dashboards are checked (the fleet's traffic is random).
TRAFFIC_READY = {
    "5xx responses": 'sum(http_server_request_duration_seconds_count{http_response_status_code=~"5.."})',
    "exceptions": "sum(fleetobs_http_server_exceptions_total)",
    "N+1 detections": "sum(fleetobs_db_n_plus_one_total)",
    "cache hits": 'sum(fleetobs_cache_operations_total{cache_result="hit"})',
    "cache misses": 'sum(fleetobs_cache_operations_total{cache_result="miss"})',
    "slow requests": 'sum(http_server_request_duration_seconds_count{http_route="shop/slow/"})',
    "database connection errors": "sum(fleetobs_db_connection_errors_total)",
    "database query errors": "sum(fleetobs_db_errors_total)",
    "tasks queued": "sum(fleetobs_task_published_total)",
    "task successes": 'sum(fleetobs_task_executions_total{task_state="success"})',
    "task retries": 'sum(fleetobs_task_executions_total{task_state="retry"})',
    "task failures": 'sum(fleetobs_task_executions_total{task_state="failure"})',
    "task queue waits": "sum(fleetobs_task_queue_wait_seconds_count)",
    "spans delivered": 'sum(fleetobs_telemetry_exported_total{signal="spans"})',
    "span export failures": 'sum(fleetobs_telemetry_export_failures_total{signal="spans"})',
    "spans dropped": 'sum(fleetobs_telemetry_dropped_total{signal="spans"})',
}
#: While traffic runs: the flaky endpoint fails often, and an error burst fails some requests and
#: makes order tasks retry (and, after their last retry, fail).
TRAFFIC_FAULTS = {"failure_rate": 0.5, "error_rate": 0.4}

#: Instances added to the fleet whose database fails, so the error panels have something to show:
#: one whose PostgreSQL refuses connections (nothing listens on the port), one whose queries fail
#: (a search_path with no tables: every query raises ProgrammingError). Their OTLP endpoint
#: refuses connections too, so the telemetry panels show failed exports and dropped spans.
BROKEN_DATABASES = {
    "shop-no-database": "postgresql://postgres@127.0.0.1:{closed_port}/test",
    "shop-no-schema": "postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dfleetobs_no_such_schema",
}
POSTGRES = ("127.0.0.1", 5432)
#: The Celery broker of the fleet: a Redis database no other test uses (it is emptied first).
BROKER = "redis://127.0.0.1:6379/12"
REDIS = ("127.0.0.1", 6379)
#: The Celery worker's ``instance`` label.
WORKER = "shop-worker"

#: (dashboard uid, panel title) -> why the sample fleet cannot give it data.
ALLOWED_DEAD: dict[tuple[str, str], str] = {}


def expand(expr: str, dashboard: dict[str, Any]) -> str:
    """Substitute template variables the way Grafana does for the test's selection."""
    values = {
        "job": SERVICE,
        "instance": ".+",
        "environment": ".+",
        "route": ".+",
        "__rate_interval": RATE_INTERVAL,
        "__interval": "5s",
        "__range": RANGE,
        "__range_s": RANGE_SECONDS,
        "__tags": f'job="{SERVICE}"',
    }
    for var in walk.variables(dashboard):
        if var["type"] == "custom":
            values[var["name"]] = var["current"]["value"]

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no test value for ${name} in {expr}")
        return values[name]

    expanded = re.sub(r"\$\{(\w+)\}|\$(\w+)", substitute, expr)
    assert "$" not in expanded, expanded
    return expanded


def evaluate(fleet: Fleet, expr: str, *, instant: bool, now: float) -> tuple[str | None, int]:
    """(error, number of series) for ``expr`` evaluated like Grafana would."""
    assert fleet.prometheus is not None
    when = now + WEEK if re.search(r"\boffset 1w\b", expr) else now
    if instant:
        path, params = "query", {"query": expr, "time": when}
    else:
        path, params = "query_range", {"query": expr, "start": when - 60, "end": when, "step": 5}
    reply = http_request(f"{fleet.prometheus.url}/api/v1/{path}?{urllib.parse.urlencode(params)}")
    payload = reply.json()
    if payload.get("status") != "success":
        return f"{payload.get('errorType')}: {payload.get('error')}", 0
    result = payload["data"]["result"]
    if not instant:
        result = [series for series in result if series.get("values")]
    return None, len(result)


def _require_service(name: str, address: tuple[str, int]) -> None:
    try:
        socket.create_connection(address, timeout=2).close()
    except OSError:
        message = f"{name} is not listening on {address[0]}:{address[1]}"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def _empty_broker() -> None:
    """Drop messages a previous, interrupted run may have left in the broker's database."""
    import redis

    client = redis.Redis.from_url(BROKER)
    try:
        client.flushdb()
    finally:
        client.close()


def _scrape(fleet: Fleet, address: str, instance: str) -> None:
    """Add a target to the fleet's job, labelled like the instances (Prometheus reloads later)."""
    assert fleet.prometheus is not None
    group = {"targets": [address], "labels": {"instance": instance, "environment": ENVIRONMENT}}
    fleet.prometheus.scrape_configs[0]["static_configs"].append(group)


def _target_count(fleet: Fleet) -> int:
    assert fleet.prometheus is not None
    return sum(len(group["targets"]) for group in fleet.prometheus.scrape_configs[0]["static_configs"])


def _start_broken_instances(fleet: Fleet) -> Iterator[Gunicorn]:
    """Extra one-worker instances of the shop whose database fails, scraped like the others."""
    assert fleet.prometheus is not None
    for name, url in BROKEN_DATABASES.items():
        env = fleet.instance_env(0)
        env["DATABASE_URL"] = url.format(closed_port=free_port())
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
        env["PROMETHEUS_MULTIPROC_DIR"] = str(fleet.state_dir / "instances" / name / "metrics")
        app = Gunicorn(
            WSGI_MODULE,
            workers=1,
            env=env,
            config=str(GUNICORN_CONFIG),
            settings=SETTINGS_MODULE,
            workdir=fleet.state_dir / "instances" / name,
        )
        app.start()
        yield app
        _scrape(fleet, app.address, name)


class _DiscardingOtlpHandler(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports and drops them: tracing records spans only when it has an endpoint."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def otlp_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DiscardingOtlpHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def fleet_under_traffic(
    fleet_factory: FleetFactory,  # noqa: F811 - the imported fixture
    otlp_endpoint: str,
) -> Iterator[Fleet]:
    _require_service("PostgreSQL", POSTGRES)
    _require_service("Redis", REDIS)
    _empty_broker()
    # Every request traced and exported, so latency histogram buckets carry trace-id exemplars.
    # Orders are queued on the broker (the cache stays in local memory: REDIS_URL is unset).
    env = {
        "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        "CELERY_BROKER_URL": BROKER,
    }
    fleet = fleet_factory(environment=ENVIRONMENT, env=env)
    assert fleet.prometheus is not None
    broken: list[Gunicorn] = []
    worker: TaskWorker | None = None
    try:
        worker = start_task_worker(fleet, WORKER)
        _scrape(fleet, worker.address, WORKER)
        broken.extend(_start_broken_instances(fleet))
        fleet.prometheus.reload()
        fleet.prometheus.wait_for_targets_up(_target_count(fleet))
        fleet.set_faults(**TRAFFIC_FAULTS)
        with LoadGenerator([app.url for app in fleet.instances], rate=25, users=6):
            started = time.monotonic()
            pending = dict(TRAFFIC_READY)
            while pending or time.monotonic() - started < 20:
                for app in broken:
                    assert http_request(f"{app.url}/shop/products/").status == 500
                for name, expr in list(pending.items()):
                    if (fleet.prometheus.query_value(expr) or 0) > 0:
                        del pending[name]
                if time.monotonic() - started > 120:
                    detail = f"\n--- {worker.log_path} ---\n{worker.log_tail()}"
                    pytest.fail(
                        f"the sample fleet produced no {sorted(pending)} within 120 s{detail}", pytrace=False
                    )
                time.sleep(1)
        fleet.clear_faults()
        time.sleep(3)  # a few more scrapes after the last requests
        yield fleet
    finally:
        fleet.clear_faults()
        for app in broken:
            app.stop()
        if worker is not None:
            worker.stop()
        _empty_broker()


def test_every_prometheus_panel_returns_data(fleet_under_traffic: Fleet) -> None:
    now = time.time()
    dead: list[str] = []
    errors: list[str] = []
    alive_allowed: list[str] = []
    checked = 0
    for dashboard in generate.dashboards().values():
        panel_dead: dict[str, list[str]] = {}
        for panel, target in walk.prometheus_targets(dashboard):
            expr = expand(target["expr"], dashboard)
            error, series = evaluate(fleet_under_traffic, expr, instant=target["instant"], now=now)
            checked += 1
            where = f"{dashboard['title']} / {panel['title']} [{target['refId']}]"
            if error:
                errors.append(f"{where}: {error}\n    {expr}")
            elif not series:
                panel_dead.setdefault(panel["title"], []).append(f"{where}: no data\n    {expr}")
        for panel in walk.panels(dashboard):
            key = (dashboard["uid"], panel["title"])
            if key in ALLOWED_DEAD and panel["title"] not in panel_dead:
                alive_allowed.append(f"{dashboard['title']} / {panel['title']}")
        for title, lines in panel_dead.items():
            if (dashboard["uid"], title) not in ALLOWED_DEAD:
                dead.extend(lines)
    assert checked > 50
    assert not errors, "queries Prometheus rejected:\n" + "\n".join(errors)
    assert not dead, "dead panels (no data from the sample fleet):\n" + "\n".join(dead)
    if alive_allowed:
        print("allow-listed panels with data now (drop them from ALLOWED_DEAD):", *alive_allowed, sep="\n  ")


def test_latency_panels_show_exemplars_with_trace_ids(fleet_under_traffic: Fleet) -> None:
    assert fleet_under_traffic.prometheus is not None
    now = time.time()
    checked = []
    for dashboard in generate.dashboards().values():
        for panel, target in walk.prometheus_targets(dashboard):
            if not target["exemplar"]:
                continue
            expr = expand(target["expr"], dashboard)
            found = fleet_under_traffic.prometheus.query_exemplars(expr, start=now - 300, end=now)
            trace_ids = {e["labels"].get("trace_id") for series in found for e in series.get("exemplars", [])}
            assert trace_ids - {None}, f"{dashboard['title']} / {panel['title']}: no exemplar for {expr}"
            checked.append(panel["title"])
    assert checked


def test_a_wrong_query_counts_as_dead_and_bad_syntax_as_an_error(fleet_under_traffic: Fleet) -> None:
    dashboard = generate.dashboards()[f"{uids.SERVICE}.json"]
    wrong_label = (
        'sum(rate(http_server_request_duration_seconds_count{job=~"$job", http_route="no/such/"}[5m]))'
    )
    assert evaluate(fleet_under_traffic, expand(wrong_label, dashboard), instant=True, now=time.time()) == (
        None,
        0,
    )
    error, _ = evaluate(fleet_under_traffic, "sum(rate(x[5m])", instant=False, now=time.time())
    assert error is not None
    assert error.startswith("bad_data")


def test_allow_list_names_real_panels() -> None:
    panels = {(d["uid"], p["title"]) for d in generate.dashboards().values() for p in walk.panels(d)}
    assert set(ALLOWED_DEAD) <= panels
    assert len(ALLOWED_DEAD) <= 12, "keep the allow-list short: make the fleet produce the traffic instead"


def test_variables_list_the_fleet(fleet_under_traffic: Fleet) -> None:
    assert fleet_under_traffic.prometheus is not None
    expected = {
        "environment": {ENVIRONMENT},
        "job": {SERVICE},
        "instance": {"shop-1", "shop-2"},
    }
    for dashboard in generate.dashboards().values():
        for var in walk.query_variables(dashboard, "prometheus"):
            match = re.fullmatch(r"label_values\((.+), (\w+)\)", var["query"])
            assert match, var["query"]
            selector = expand(match.group(1), dashboard)
            label = match.group(2)
            values = fleet_under_traffic.prometheus.api(f"label/{label}/values", {"match[]": selector})
            assert values, f"{dashboard['title']}: ${var['name']} lists nothing ({selector})"
            assert expected.get(var["name"], set()) <= set(values), (var["name"], values)


def test_trace_to_metrics_queries_return_data(fleet_under_traffic: Fleet) -> None:
    tempo = provisioning.datasources()["datasources"][1]
    assert tempo["uid"] == uids.TEMPO
    now = time.time()
    for query in tempo["jsonData"]["tracesToMetrics"]["queries"]:
        expr = query["query"].replace("$__tags", f'job="{SERVICE}"')
        error, series = evaluate(fleet_under_traffic, expr, instant=True, now=now)
        assert error is None, (query["name"], error)
        assert series, (query["name"], expr)
