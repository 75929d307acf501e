"""``fleetobs doctor`` against a real Prometheus and Alertmanager scraping the sample fleet.

One fleet for the module (two gunicorn instances of the shop, the generated rules, an
Alertmanager with the generated routing), with traffic so the panels have data. Each fault is
injected by rewriting Prometheus's configuration (targets, rule files, alerting) and reloading it,
never by restarting the fleet; the test waits, with a generous deadline, until the doctor reports
the fault, checks the finding and its fix, then restores the configuration and waits until the
doctor says the fleet is healthy again. Every run goes through the real command line
(``fleetobs.main``), so the asserted text and exit code are what a user sees.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import fleetobs
from sample_app.fleet import Fleet
from sample_app.traffic import LoadGenerator
from tests.doctor.servers import StaticExporter
from tests.support.fixtures import FleetFactory, fleet_factory  # noqa: F401 - fixture
from tests.support.procs import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEADLINE = 90.0


def doctor(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = fleetobs.main(["doctor", *args])
    return code, out.getvalue()


@pytest.fixture(scope="module")
def fleet(fleet_factory: FleetFactory) -> Fleet:  # noqa: F811 - the imported fixture
    fleet = fleet_factory(rules="auto", alertmanager=True)
    assert fleet.prometheus is not None
    with LoadGenerator([app.url for app in fleet.instances], rate=20, users=4):
        fleet.prometheus.wait_for_query("sum(job:http_server_requests:rate5m) > 0", timeout=DEADLINE)
    # Settled: every rule evaluated and every target scraped, so the first report is the steady one.
    _until(fleet, lambda _code, text: "verdict: HEALTHY" in text)
    return fleet


def _args(fleet: Fleet, *extra: str) -> list[str]:
    assert fleet.prometheus is not None
    assert fleet.alertmanager is not None
    return ["--prometheus", fleet.prometheus.url, "--alertmanager", fleet.alertmanager.url, *extra]


def _until(fleet: Fleet, done: Callable[[int, str], bool], *extra: str) -> tuple[int, str]:
    deadline = time.monotonic() + DEADLINE
    while True:
        code, text = doctor(*_args(fleet, *extra))
        if done(code, text):
            return code, text
        if time.monotonic() > deadline:
            pytest.fail(
                f"the doctor did not report as expected within {DEADLINE:g} s:\n{text}", pytrace=False
            )
        time.sleep(1)


@contextlib.contextmanager
def reconfigured(fleet: Fleet, change: Callable[[Any], None], marker: str) -> Iterator[None]:
    """Change the fleet Prometheus's configuration and reload it; afterwards restore it and wait
    until the doctor no longer reports ``marker`` and finds the fleet healthy again."""
    prometheus = fleet.prometheus
    assert prometheus is not None
    saved = (
        json.loads(json.dumps(prometheus.scrape_configs)),
        list(prometheus.rule_files),
        prometheus.alertmanager_url,
    )
    change(prometheus)
    prometheus.reload()
    try:
        yield
    finally:
        prometheus.scrape_configs, prometheus.rule_files, prometheus.alertmanager_url = saved
        prometheus.reload()
        # Back to the settled state (a reload briefly leaves Prometheus without its Alertmanager).
        _until(fleet, lambda _code, text: marker not in text and "verdict: HEALTHY" in text)


def _has_lines(text: str, *lines: str) -> bool:
    """``lines`` appear one after the other in ``text`` (indentation aside)."""
    rows = [row.strip() for row in text.splitlines()]
    return any(rows[i : i + len(lines)] == list(lines) for i in range(len(rows)))


def _shop_groups(prometheus: Any) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = prometheus.scrape_configs[0]["static_configs"]
    return groups


#: An older generated latency budget record divided a series labelled ``spec`` by one without it,
#: so it never had a value (the doctor found it in the generated rules); the test below loads such
#: a rule file on purpose.
LATENCY_BUDGET_DEFECT = 'record job:slo_error_budget_remaining:ratio{slo="latency", spec="default"}'


def test_a_healthy_fleet_exits_0_within_10_seconds(fleet: Fleet) -> None:
    started = time.monotonic()
    code, text = doctor(*_args(fleet))
    took = time.monotonic() - started
    assert code == 0, text
    assert "verdict: HEALTHY (exit 0)" in text
    assert "checked: Targets, Labels, Dashboards, Rules, Alertmanager routing, Cardinality" in text
    assert "ERROR" not in text
    assert "WARNING" not in text
    assert took < 10, f"the doctor took {took:.1f} s"


def test_a_record_that_can_never_match_is_reported_broken(
    fleet: Fleet, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The SLO rule file as an older release generated it: its latency budget never matches."""
    prometheus = fleet.prometheus
    assert prometheus is not None
    (current,) = [f for f in prometheus.rule_files if f.endswith("fleetobs-slo.yml")]
    older = tmp_path_factory.mktemp("older-rules") / "fleetobs-slo.yml"
    older.write_text(Path(current).read_text().replace("/ ignoring (spec)\n", "/\n"))
    assert older.read_text() != Path(current).read_text()

    def swap(prometheus: Any) -> None:
        prometheus.rule_files = [str(older) if f == current else f for f in prometheus.rule_files]

    with reconfigured(fleet, swap, LATENCY_BUDGET_DEFECT):
        started = time.monotonic()
        code, text = _until(fleet, lambda _code, text: LATENCY_BUDGET_DEFECT in text)
        took = time.monotonic() - started
        assert code == 1, text
        assert (
            f"[Rules] {LATENCY_BUDGET_DEFECT}: produces no series: every series it reads has data, yet the "
            "expression returns nothing: job:http_server_request_latency_sli_good:rate5m carries spec, which "
            "job:http_server_requests:rate5m lacks, so the two never match" in text
        )
        assert took < 60


def test_the_json_report_carries_every_finding_and_the_exit_code(fleet: Fleet) -> None:
    code, text = doctor(*_args(fleet, "--json"))
    report = json.loads(text)
    assert report["exit_code"] == code
    assert {f["subject"] for f in report["findings"] if f["severity"] != "info"} == set()
    # Task panels are empty on a fleet without Celery: explained, and only informational.
    tasks = [f for f in report["findings"] if f["subject"].startswith("Background tasks /")]
    assert tasks
    assert {f["severity"] for f in tasks} == {"info"}
    assert any("task metrics appear once Celery tasks" in f["message"] for f in tasks)


def test_environment_label_missing_on_one_target(fleet: Fleet) -> None:
    def drop(prometheus: Any) -> None:
        _shop_groups(prometheus)[1]["labels"].pop("environment")

    with reconfigured(fleet, drop, "lack the environment label"):
        code, text = _until(fleet, lambda _code, text: "lack the environment label" in text)
        assert code == 1
        assert (
            "[Labels] job shop: 1 target(s) lack the environment label that other targets carry (shop-2)"
            in text
        )
        # The exact relabelling for each setup, with the value the other targets carry.
        assert _has_lines(text, "labels:", "environment: test")
        assert _has_lines(text, "relabel_configs:", "- target_label: environment", "replacement: test")
        assert _has_lines(text, "relabelings:", "- targetLabel: environment", "replacement: test")


def test_rules_file_not_loaded(fleet: Fleet) -> None:
    def drop(prometheus: Any) -> None:
        prometheus.rule_files = [f for f in prometheus.rule_files if not f.endswith("fleetobs-slo.yml")]

    with reconfigured(fleet, drop, "rule file fleetobs-slo.yml"):
        code, text = _until(fleet, lambda _code, text: "rule file fleetobs-slo.yml" in text)
        assert code == 1
        assert "ERROR" in text
        assert "[Rules] rule file fleetobs-slo.yml: not loaded: Prometheus has none of its group(s)" in text
        assert _has_lines(text, "rule_files:", "- /etc/prometheus/rules/fleetobs-*.yml")


def test_rule_with_an_evaluation_error(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> None:
    broken = tmp_path_factory.mktemp("rules") / "team.yml"
    rule = {"record": "job:team_up:sum", "expr": 'up{job="shop"}', "labels": {"instance": "same"}}
    broken.write_text(yaml.safe_dump({"groups": [{"name": "team", "rules": [rule]}]}))

    def add(prometheus: Any) -> None:
        prometheus.rule_files = [*prometheus.rule_files, str(broken)]

    with reconfigured(fleet, add, "job:team_up:sum"):
        code, text = _until(fleet, lambda _code, text: "job:team_up:sum" in text)
        assert code == 1
        assert (
            "[Rules] rule job:team_up:sum (group team): fails to evaluate: "
            "vector contains metrics with the same labelset" in text
        )
        assert f"Fix: fix the rule's expression in {broken}" in text


def test_no_alertmanager_configured(fleet: Fleet) -> None:
    def drop(prometheus: Any) -> None:
        prometheus.alertmanager_url = None

    with reconfigured(fleet, drop, "has no Alertmanager"):
        code, text = _until(fleet, lambda _code, text: "has no Alertmanager" in text)
        assert code == 1
        assert "[Rules] alerting: Prometheus has no Alertmanager (/api/v1/alertmanagers is empty)" in text
        assert _has_lines(text, "alerting:", "alertmanagers:", "- static_configs:")


def test_one_service_not_scraped(fleet: Fleet) -> None:
    code, text = doctor(*_args(fleet, "--job", "shop", "--job", "payments"))
    assert code == 1, text
    assert (
        "[Targets] job payments: Prometheus scrapes no target of this job: the service is not scraped" in text
    )
    assert "- job_name: payments" in text
    # The job that is scraped gains no error or warning from the other one missing.
    findings = [row for row in text.split("\nINFO")[0].splitlines() if row.startswith("  [")]
    assert all("payments" in row for row in findings), findings


OLD_INSTANCE = """\
# TYPE fleetobs_build_info gauge
fleetobs_build_info{service_name="shop",service_version="0.0.1",django_version="4.2",python_version="3.10"} 1
"""


def test_one_instance_on_an_older_instrumentation(fleet: Fleet) -> None:
    with StaticExporter(OLD_INSTANCE) as exporter:

        def add(prometheus: Any) -> None:
            group = {"targets": [exporter.address], "labels": {"instance": "shop-old", "environment": "test"}}
            _shop_groups(prometheus).append(group)

        with reconfigured(fleet, add, "shop-old"):
            # Wait for the findings themselves: the new target shows up (as an info note) first.
            code, text = _until(fleet, lambda _code, text: "instance shop-old: older instrumentation" in text)
            assert code == 1
            assert (
                "[Targets] job shop: instances run different versions "
                "(0.0.1 on shop-old; unknown on shop-1, shop-2)" in text
            )
            assert (
                "[Targets] job shop, instance shop-old: older instrumentation (service version 0.0.1): "
                "it exposes "
                "fleetobs_build_info but not fleetobs_process_cpu_limit_cores" in text
            )
            assert "Fix: upgrade django-fleet-observability on this service and redeploy" in text


def _exploding_routes(count: int) -> str:
    lines = ["# TYPE fleetobs_build_info gauge"]
    lines.append(
        'fleetobs_build_info{service_name="shop",service_version="unknown",'
        'django_version="5.2",python_version="3.12"} 1'
    )
    lines.append("# TYPE http_server_request_duration_seconds_count counter")
    lines.extend(
        f'http_server_request_duration_seconds_count{{http_request_method="GET",http_route="/products/{n}/",'
        f'http_response_status_code="200"}} 1'
        for n in range(count)
    )
    return "\n".join(lines) + "\n"


def test_a_route_label_explosion(fleet: Fleet) -> None:
    with StaticExporter(_exploding_routes(260)) as exporter:

        def add(prometheus: Any) -> None:
            group = {"targets": [exporter.address], "labels": {"instance": "shop-raw", "environment": "test"}}
            _shop_groups(prometheus).append(group)

        with reconfigured(fleet, add, "label http_route"):
            code, text = _until(fleet, lambda _code, text: "label http_route" in text)
            assert code == 1
            line = next(row for row in text.splitlines() if "[Cardinality] job shop, label http_route" in row)
            values = int(line.split(": ", 1)[1].split()[0])
            assert values > 260, line
            assert "over the limit of 200 (e.g. /products/0/" in line
            assert "raw URL paths instead of URL patterns?" in line
            assert "--max-routes" in line


def test_routing_that_differs_from_the_generated_config(fleet: Fleet) -> None:
    """Alertmanager routing is checked by dry run against a second Alertmanager with one route."""
    from tests.support.procs import Alertmanager, minimal_alertmanager_config

    with Alertmanager(minimal_alertmanager_config("http://127.0.0.1:9/")) as other:
        assert fleet.prometheus is not None
        code, text = doctor("--prometheus", fleet.prometheus.url, "--alertmanager", other.url)
    assert code == 1, text
    assert "[Rules] Alertmanager routing to platform-page:" in text
    assert "reach webhook instead of platform-page" in text
    assert f"Prometheus sends alerts to {fleet.alertmanager.url.split('//')[1]}" in text  # type: ignore[union-attr]


def test_an_unreachable_backend_exits_2(fleet: Fleet) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    code, text = doctor(*_args(fleet, "--elasticsearch", closed))
    assert code == 2, text
    assert f"CANNOT CHECK Elasticsearch: cannot connect to {closed}" in text
    assert "verdict: CANNOT CHECK: Elasticsearch unreachable (exit 2)" in text
    # The Prometheus checks still ran.
    assert "checked: Targets, Labels, Dashboards, Rules, Alertmanager routing, Cardinality" in text
