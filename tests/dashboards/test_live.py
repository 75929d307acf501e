"""Every Prometheus query of every dashboard returns data from a real Prometheus scraping the sample fleet.

The module starts the sample fleet (two gunicorn instances of the shop, two workers each) and two
real Prometheus servers scraping the same processes every second: the fleet's own, whose scrape
config adds ``instance`` names and an ``environment`` target label, and a *plain* one, a single
``static_configs`` job with targets only (no labels, no relabelling), as a team's existing
Prometheus often is. It drives the shop's realistic traffic mix through the fleet with the flaky
endpoint failing often (so 5xx responses, exceptions, N+1 requests, cache hits and misses, slow
requests and orders all happen), then, for each Prometheus, expands each target the way Grafana
would: ``$job`` = the sample service, every other query variable at its ``All`` value (the
dashboard's own ``allValue``), the SLO variables at their dashboard defaults, ``$__rate_interval``
a few scrape intervals, ``$__range`` the last five minutes. On the labelled Prometheus the panels
are also checked with one environment selected, as a user picking it would see them. Each
expression goes to the real Prometheus (which also parses it: a syntax error is reported as
such); a target with an empty result is a dead panel. Week-over-week targets (``offset 1w``)
are evaluated a week in the future, where their offset lands on the data just scraped. Dead
panels are listed by dashboard and title. Requests are traced (spans go to a discarding OTLP
endpoint), so latency panels marked for exemplars must also get exemplars with a ``trace_id``
from both Prometheus servers.

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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dashboards import generate, provisioning, uids
from sample_app import processes
from sample_app.fleet import GUNICORN_CONFIG, SETTINGS_MODULE, WSGI_MODULE, Fleet
from sample_app.traffic import LoadGenerator
from tests.dashboards import walk
from tests.support.fixtures import (  # noqa: F401 - fleet_factory is a pytest fixture
    FleetFactory,
    TaskWorker,
    fleet_factory,
    start_task_worker,
)
from tests.support.procs import Gunicorn, Prometheus, free_port, http_request, in_ci

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
NO_WEBSOCKETS = (
    "the sample shop serves no WebSockets; tests/servers/test_channels_websockets.py checks these "
    "panels against a real Prometheus scraping a Channels project under daphne"
)
ALLOWED_DEAD: dict[tuple[str, str], str] = {
    (uids.SERVICE, "WebSocket connections open"): NO_WEBSOCKETS,
    (uids.SERVICE, "WebSocket connections opened and closed"): NO_WEBSOCKETS,
    (uids.SERVICE, "WebSocket messages in and out"): NO_WEBSOCKETS,
}


@dataclass(frozen=True)
class Scenario:
    """Which Prometheus answers, and what the user selected in the dashboard's variables."""

    #: ``"environment"``: the fleet's Prometheus (target labels ``instance`` and ``environment``);
    #: ``"plain"``: job and targets only.
    scrape: str
    #: Variable values other than ``All`` (as Grafana writes a single selected value).
    selected: Mapping[str, str] = field(default_factory=dict)


SCENARIOS = {
    "plain-all": Scenario("plain"),
    "environment-all": Scenario("environment"),
    "environment-selected": Scenario("environment", {"environment": ENVIRONMENT}),
}


@dataclass
class LiveFleet:
    """The fleet under traffic and the Prometheus servers scraping it, by scrape style."""

    fleet: Fleet
    prometheus: dict[str, processes.Prometheus]


def expand(expr: str, dashboard: dict[str, Any], selected: Mapping[str, str] | None = None) -> str:
    """Substitute template variables the way Grafana does for the test's selection.

    ``$job`` is the sample service; every other query variable is at ``All``, which Grafana
    writes as the variable's custom ``allValue``, unless ``selected`` gives it a value.
    """
    values = {
        "job": SERVICE,
        "__rate_interval": RATE_INTERVAL,
        "__interval": "5s",
        "__range": RANGE,
        "__range_s": RANGE_SECONDS,
        "__tags": f'job="{SERVICE}"',
    }
    for var in walk.variables(dashboard):
        if var["type"] == "custom":
            values[var["name"]] = var["current"]["value"]
        elif var["type"] == "query" and var["name"] != "job":
            values[var["name"]] = var["allValue"]
    values.update(selected or {})

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no test value for ${name} in {expr}")
        return values[name]

    expanded = re.sub(r"\$\{(\w+)\}|\$(\w+)", substitute, expr)
    assert "$" not in expanded, expanded
    return expanded


def evaluate(
    prometheus: processes.Prometheus, expr: str, *, instant: bool, now: float
) -> tuple[str | None, int]:
    """(error, number of series) for ``expr`` evaluated like Grafana would."""
    when = now + WEEK if re.search(r"\boffset 1w\b", expr) else now
    if instant:
        path, params = "query", {"query": expr, "time": when}
    else:
        path, params = "query_range", {"query": expr, "start": when - 60, "end": when, "step": 5}
    reply = http_request(f"{prometheus.url}/api/v1/{path}?{urllib.parse.urlencode(params)}")
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


def _plain_scrape_config(fleet: Fleet) -> dict[str, Any]:
    """The fleet's targets as one job with targets only: no target labels, no relabelling."""
    assert fleet.prometheus is not None
    targets = [t for group in fleet.prometheus.scrape_configs[0]["static_configs"] for t in group["targets"]]
    return {"job_name": SERVICE, "static_configs": [{"targets": targets}]}


def _scraped_since(prometheus: processes.Prometheus, since: float, targets: int) -> bool:
    """Every one of ``targets`` targets has been scraped at least twice after ``since``."""
    result = prometheus.query(f'timestamp(up{{job="{SERVICE}"}})')
    return len(result) >= targets and min(float(s["value"][1]) for s in result) > since + 2


def _wait_for(what: str, predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:g} s", pytrace=False)
        time.sleep(0.5)


@pytest.fixture(scope="module")
def fleet_under_traffic(
    fleet_factory: FleetFactory,  # noqa: F811 - the imported fixture
    otlp_endpoint: str,
) -> Iterator[LiveFleet]:
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
    plain: Prometheus | None = None
    try:
        worker = start_task_worker(fleet, WORKER)
        _scrape(fleet, worker.address, WORKER)
        broken.extend(_start_broken_instances(fleet))
        fleet.prometheus.reload()
        # A second Prometheus scraping the very same processes, as a plain static_configs job.
        plain = Prometheus([_plain_scrape_config(fleet)], workdir=fleet.state_dir / "prometheus-plain")
        plain.start()
        servers = {"environment": fleet.prometheus, "plain": plain}
        targets = _target_count(fleet)
        for server in servers.values():
            server.wait_for_targets_up(targets)
        fleet.set_faults(**TRAFFIC_FAULTS)
        with LoadGenerator([app.url for app in fleet.instances], rate=25, users=6):
            started = time.monotonic()
            pending = {(scrape, name): expr for scrape in servers for name, expr in TRAFFIC_READY.items()}
            while pending or time.monotonic() - started < 20:
                for app in broken:
                    assert http_request(f"{app.url}/shop/products/").status == 500
                for (scrape, name), expr in list(pending.items()):
                    if (servers[scrape].query_value(expr) or 0) > 0:
                        del pending[(scrape, name)]
                if time.monotonic() - started > 120:
                    detail = f"\n--- {worker.log_path} ---\n{worker.log_tail()}"
                    pytest.fail(
                        f"the sample fleet produced no {sorted(pending)} within 120 s{detail}", pytrace=False
                    )
                time.sleep(1)
        fleet.clear_faults()
        stopped = time.time()
        for scrape, server in servers.items():
            _wait_for(
                f"{scrape} Prometheus: two scrapes of every target after the traffic",
                lambda server=server: _scraped_since(server, stopped, targets),
                timeout=60,
            )
        yield LiveFleet(fleet, servers)
    finally:
        fleet.clear_faults()
        if plain is not None:
            plain.stop()
        for app in broken:
            app.stop()
        if worker is not None:
            worker.stop()
        _empty_broker()


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> Scenario:
    return SCENARIOS[request.param]


@pytest.fixture(params=["plain", "environment"])
def prometheus(request: pytest.FixtureRequest, fleet_under_traffic: LiveFleet) -> processes.Prometheus:
    """Each Prometheus scraping the fleet: plain (job and targets only), then with ``environment``."""
    return fleet_under_traffic.prometheus[request.param]


def test_every_prometheus_panel_returns_data(fleet_under_traffic: LiveFleet, scenario: Scenario) -> None:
    prometheus = fleet_under_traffic.prometheus[scenario.scrape]
    now = time.time()
    dead: list[str] = []
    errors: list[str] = []
    alive_allowed: list[str] = []
    checked = 0
    for dashboard in generate.dashboards().values():
        panel_dead: dict[str, list[str]] = {}
        for panel, target in walk.prometheus_targets(dashboard):
            expr = expand(target["expr"], dashboard, scenario.selected)
            error, series = evaluate(prometheus, expr, instant=target["instant"], now=now)
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
    assert not dead, f"dead panels ({len(dead)} of {checked} queries without data):\n" + "\n".join(dead)
    if alive_allowed:
        print("allow-listed panels with data now (drop them from ALLOWED_DEAD):", *alive_allowed, sep="\n  ")


def test_the_plain_prometheus_has_no_environment_label(fleet_under_traffic: LiveFleet) -> None:
    """The plain scrape really is plain: nothing it stores carries ``environment``."""
    plain = fleet_under_traffic.prometheus["plain"]
    assert plain.query(f'count(up{{job="{SERVICE}"}})')
    assert "environment" not in plain.api("labels", {"match[]": f'{{job="{SERVICE}"}}'})
    labelled = fleet_under_traffic.prometheus["environment"]
    assert labelled.api("label/environment/values", {"match[]": f'{{job="{SERVICE}"}}'}) == [ENVIRONMENT]


def test_latency_panels_show_exemplars_with_trace_ids(prometheus: processes.Prometheus) -> None:
    now = time.time()
    checked = []
    for dashboard in generate.dashboards().values():
        for panel, target in walk.prometheus_targets(dashboard):
            if not target["exemplar"]:
                continue
            expr = expand(target["expr"], dashboard)
            found = prometheus.query_exemplars(expr, start=now - 300, end=now)
            trace_ids = {e["labels"].get("trace_id") for series in found for e in series.get("exemplars", [])}
            assert trace_ids - {None}, f"{dashboard['title']} / {panel['title']}: no exemplar for {expr}"
            checked.append(panel["title"])
    assert checked


def test_a_wrong_query_counts_as_dead_and_bad_syntax_as_an_error(fleet_under_traffic: LiveFleet) -> None:
    prometheus = fleet_under_traffic.prometheus["environment"]
    dashboard = generate.dashboards()[f"{uids.SERVICE}.json"]
    wrong_label = (
        'sum(rate(http_server_request_duration_seconds_count{job=~"$job", http_route="no/such/"}[5m]))'
    )
    assert evaluate(prometheus, expand(wrong_label, dashboard), instant=True, now=time.time()) == (None, 0)
    error, _ = evaluate(prometheus, "sum(rate(x[5m])", instant=False, now=time.time())
    assert error is not None
    assert error.startswith("bad_data")


def test_an_environment_nobody_has_shows_nothing(fleet_under_traffic: LiveFleet) -> None:
    """Selecting an environment filters: a value no target carries leaves the panels empty."""
    prometheus = fleet_under_traffic.prometheus["environment"]
    dashboard = generate.dashboards()[f"{uids.OVERVIEW}.json"]
    (panel, target), *_ = walk.prometheus_targets(dashboard)
    expr = expand(target["expr"], dashboard, {"environment": "no-such-environment"})
    assert evaluate(prometheus, expr, instant=True, now=time.time()) == (None, 0), panel["title"]


def test_allow_list_names_real_panels() -> None:
    panels = {(d["uid"], p["title"]) for d in generate.dashboards().values() for p in walk.panels(d)}
    assert set(ALLOWED_DEAD) <= panels
    assert len(ALLOWED_DEAD) <= 12, "keep the allow-list short: make the fleet produce the traffic instead"


def test_variables_list_the_fleet(fleet_under_traffic: LiveFleet, scenario: Scenario) -> None:
    prometheus = fleet_under_traffic.prometheus[scenario.scrape]
    fleet = fleet_under_traffic.fleet
    if scenario.scrape == "plain":
        # No environment label to list (Grafana then offers only All); instances are addresses.
        addresses = {app.address for app in fleet.instances}
        expected = {"environment": set(), "job": {SERVICE}, "instance": addresses}
    else:
        expected = {"environment": {ENVIRONMENT}, "job": {SERVICE}, "instance": {"shop-1", "shop-2"}}
    for dashboard in generate.dashboards().values():
        for var in walk.query_variables(dashboard, "prometheus"):
            match = re.fullmatch(r"label_values\((.+), (\w+)\)", var["query"])
            assert match, var["query"]
            selector = expand(match.group(1), dashboard, scenario.selected)
            label = match.group(2)
            values = prometheus.api(f"label/{label}/values", {"match[]": selector})
            if var["name"] in expected and not expected[var["name"]]:
                assert values == [], (var["name"], values)
                continue
            assert values, f"{dashboard['title']}: ${var['name']} lists nothing ({selector})"
            assert expected.get(var["name"], set()) <= set(values), (var["name"], values)


def test_trace_to_metrics_queries_return_data(prometheus: processes.Prometheus) -> None:
    tempo = provisioning.datasources()["datasources"][1]
    assert tempo["uid"] == uids.TEMPO
    now = time.time()
    for query in tempo["jsonData"]["tracesToMetrics"]["queries"]:
        expr = query["query"].replace("$__tags", f'job="{SERVICE}"')
        error, series = evaluate(prometheus, expr, instant=True, now=now)
        assert error is None, (query["name"], error)
        assert series, (query["name"], expr)
