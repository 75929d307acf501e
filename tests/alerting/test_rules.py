"""The generated rule files: valid for promtool, names and annotations right.

That the committed copies are fresh is `fleetobs generate --check` (tests/cli/test_generate.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from alerting import api, tools
from alerting.context import DASHBOARDS, Context
from alerting.model import ALERT_PREFIX, SEVERITIES, UNPREFIXED
from alerting.promql import SYNTHETIC_SERIES
from instrumentation.catalog import series_names
from tests.alerting.conftest import COMPOSE_RULES, COMPOSE_SPEC


@pytest.mark.parametrize(
    ("slo_file", "time_scale"),
    [(None, 1.0), (COMPOSE_SPEC, 1.0), (COMPOSE_SPEC, 1 / 60), (None, 1 / 120)],
    ids=["default", "compose", "compose-scaled", "default-scaled"],
)
def test_promtool_accepts_every_generated_rule_file(promtool, tmp_path: Path, slo_file, time_scale) -> None:
    paths = api.write_rules(tmp_path, slo_file, time_scale=time_scale)
    assert [p.name for p in paths] == list(api.RULE_FILES)
    result = tools.check_rules([str(tmp_path / "*.yml")])
    assert result.output.count("SUCCESS") == len(paths)


def test_promtool_accepts_the_committed_compose_rules(promtool) -> None:
    result = tools.check_rules([str(COMPOSE_RULES / "*.yml")])
    assert result.output.count("SUCCESS") == 3


def test_prometheus_rule_holds_the_same_groups(compose_ctx: Context, promtool, tmp_path: Path) -> None:
    document = yaml.safe_load(api.prometheus_rule_document(compose_ctx, labels={"release": "kps"}))
    assert (document["apiVersion"], document["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert document["metadata"]["labels"]["release"] == "kps"
    expected = [g.to_dict() for groups in api.rule_files(compose_ctx).values() for g in groups]
    assert document["spec"]["groups"] == expected
    extracted = tmp_path / "from-prometheusrule.yml"
    extracted.write_text(yaml.safe_dump({"groups": document["spec"]["groups"]}))
    tools.check_rules([extracted])


def _rules(ctx: Context) -> list[dict]:
    return [r.to_dict() for groups in api.rule_files(ctx).values() for g in groups for r in g.rules]


_KEYWORDS = {
    "sum",
    "count",
    "max",
    "min",
    "avg",
    "group",
    "by",
    "on",
    "ignoring",
    "without",
    "and",
    "or",
    "unless",
    "offset",
    "rate",
    "histogram_quantile",
    "sum_over_time",
    "max_over_time",
    "avg_over_time",
    "absent",
    "vector",
    "bool",
}


def _series_in(expr: str) -> set[str]:
    text = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\b(by|on|ignoring|without)\s*\([^)]*\)", "", text)  # grouping label lists
    text = re.sub(r"\b\d+(ms|[smhdwy])\b", "", text)  # offsets
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text))
    return {n for n in names if n not in _KEYWORDS}


def test_rules_only_read_catalogue_synthetic_or_recorded_series(compose_ctx: Context) -> None:
    rules = _rules(compose_ctx)
    recorded = {r["record"] for r in rules if "record" in r}
    allowed = series_names() | set(SYNTHETIC_SERIES) | recorded
    for rule in rules:
        unknown = _series_in(rule["expr"]) - allowed
        assert not unknown, f"{rule.get('record') or rule.get('alert')} reads unknown series {unknown}"


def test_recording_rules_follow_level_metric_operations(compose_ctx: Context) -> None:
    records = {r["record"] for r in _rules(compose_ctx) if "record" in r}
    for name in records:
        level, _metric, operations = name.split(":")
        assert level in {"job", "job_route", "instance"}, name
        assert re.fullmatch(r"[a-z0-9_]+", operations), name
    windows = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    for prefix in (
        "job:http_server_requests:rate",
        "job:http_server_request_errors:ratio_rate",
        "job:http_server_request_latency_sli:ratio_rate",
    ):
        assert {f"{prefix}{w}" for w in windows} <= records
    assert {f"job:http_server_request_duration_seconds:{q}_rate5m" for q in ("p50", "p95", "p99")} <= records
    assert {"job:slo_error_budget_remaining:ratio", "job:slo_objective:ratio"} <= records


def test_every_alert_carries_severity_and_linked_annotations(compose_ctx: Context) -> None:
    uids = set(DASHBOARDS.values())
    for rule in (r for r in _rules(compose_ctx) if "alert" in r):
        name = rule["alert"]
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", name)
        assert name.startswith(ALERT_PREFIX) or name in UNPREFIXED
        assert rule["labels"]["severity"] in SEVERITIES
        notes = rule["annotations"]
        assert set(notes) == {"summary", "description", "runbook_url", "dashboard_url"}
        assert "$value" in notes["description"]
        assert notes["runbook_url"].endswith(f"/{name}.md")
        uid = re.search(r"/d/([a-z0-9-]+)", notes["dashboard_url"]).group(1)
        assert uid in uids


def test_dashboard_uids_match_the_dashboards_package() -> None:
    uids = pytest.importorskip("dashboards.uids")
    published = {uids.OVERVIEW, uids.SERVICE, uids.RESOURCES, uids.DATABASE, uids.TASKS, uids.LOGS}
    assert set(DASHBOARDS.values()) == published


def test_links_are_configurable_at_generation_time(tmp_path: Path) -> None:
    api.write_rules(tmp_path, None, grafana_url="https://grafana.internal/", runbook_url="https://wiki/rb")
    text = (tmp_path / "fleetobs-alerts.yml").read_text()
    assert "dashboard_url: https://grafana.internal/d/fleetobs-" in text
    assert "runbook_url: https://wiki/rb/FleetobsInstanceDown.md" in text


def test_overridden_services_get_their_own_slo_group(compose_ctx: Context) -> None:
    groups = {g.name: g for g in api.rule_files(compose_ctx)["fleetobs-slo.yml"]}
    assert set(groups) == {"fleetobs-slo-shop", "fleetobs-slo-shop-worker", "fleetobs-slo-default"}
    shop_page = next(
        a
        for a in groups["fleetobs-slo-shop"].alerts()
        if a.labels["long_window"] == "1h" and a.labels["slo"] == "availability"
    )
    default_page = next(
        a
        for a in groups["fleetobs-slo-default"].alerts()
        if a.labels["long_window"] == "1h" and a.labels["slo"] == "availability"
    )
    assert 'job="shop"' in shop_page.expr
    assert "> 0.072" in shop_page.expr
    assert 'job!~"shop|shop\\\\-worker"' in default_page.expr
    assert "> 0.0144" in default_page.expr
    latency = next(
        r
        for r in groups["fleetobs-slo-shop"].rules
        if getattr(r, "record", "").endswith("rate5m") and "latency_sli:" in r.record
    )
    assert 'le=~"1|1\\\\.0"' in latency.expr


def test_time_scale_shrinks_windows_and_for_clauses(tmp_path: Path) -> None:
    api.write_rules(tmp_path, None, time_scale=1 / 60)
    slo = yaml.safe_load((tmp_path / "fleetobs-slo.yml").read_text())
    page = next(
        r
        for g in slo["groups"]
        for r in g["rules"]
        if r.get("alert") == "FleetobsAvailabilityBudgetBurn" and r["labels"]["long_window"] == "1h"
    )
    assert page["for"] == "2s"
    assert "job:http_server_requests:rate1h" in page["expr"]  # record names keep the nominal window
    recording = (tmp_path / "fleetobs-recording.yml").read_text()
    assert "[1m]))" in recording
    assert "[1h]" not in recording


def test_known_services_of_the_compose_spec_are_scraped_by_the_compose_prometheus(compose_spec) -> None:
    prometheus = yaml.safe_load((COMPOSE_RULES.parent / "prometheus.yml").read_text())
    jobs = {c["job_name"] for c in prometheus["scrape_configs"]}
    assert set(compose_spec.known_services) <= jobs
    assert "rules/*.yml" in prometheus["rule_files"]
