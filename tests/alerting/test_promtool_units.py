"""``promtool test rules``: every alert fires when it should and stays quiet when it should."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alerting import api, tools
from tests.alerting import promtool_cases
from tests.alerting.conftest import UNIT_TESTS

#: Watchdog fires unconditionally: there is no input under which it must stay quiet.
ALWAYS_FIRING = {"Watchdog"}


def test_every_alert_has_a_firing_and_a_quiet_case(compose_ctx) -> None:
    names = set(api.alert_names(compose_ctx))
    documents = [yaml.safe_load(p.read_text()) for p in UNIT_TESTS.glob("*.yml")]
    firing: set[str] = set()
    quiet: set[str] = set()
    for document in documents:
        for test in document["tests"]:
            for check in test["alert_rule_test"]:
                (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert names - firing == set(), "alerts without a case that fires"
    assert names - quiet == ALWAYS_FIRING, "alerts without a case that must not fire"
    assert (firing | quiet) <= names, "cases for alerts that no longer exist"


def test_every_alert_fires_on_series_with_job_and_instance_only(compose_ctx) -> None:
    """A plain scrape config gives only ``job`` and ``instance``: each alert has a firing case fed
    nothing more (and some cases add ``environment``, which the alert then keeps)."""
    plain = {c.alert for c in promtool_cases.CASES if c.fires and "environment=" not in "".join(c.series)}
    assert set(api.alert_names(compose_ctx)) - plain == set()
    labelled = [c for c in promtool_cases.CASES if c.fires and "environment=" in "".join(c.series)]
    assert labelled
    for case in labelled:
        assert all("environment" in e.labels for e in case.expect), case.name


def test_slo_alerts_have_a_low_traffic_case_and_saturation_alerts_a_blip() -> None:
    quiet = {(c.alert, c.name.split(":")[0]) for c in promtool_cases.CASES if not c.fires}
    for alert in ("FleetobsAvailabilityBudgetBurn", "FleetobsLatencyBudgetBurn"):
        assert (alert, "low traffic") in quiet
    for alert in (
        "FleetobsCPUNearLimit",
        "FleetobsMemoryNearLimit",
        "FleetobsFileDescriptorsNearLimit",
        "FleetobsWorkersSaturated",
        "FleetobsDatabaseConnectionErrors",
    ):
        assert (alert, "short blip") in quiet


@pytest.mark.slow
def test_promtool_unit_tests_pass(promtool) -> None:
    result = tools.test_rules([str(UNIT_TESTS / "*.yml")])
    assert result.output.count("SUCCESS") == len(list(UNIT_TESTS.glob("*.yml")))
    assert "FAILED" not in result.output


def _copy_with_absolute_rules(source: Path, target: Path) -> dict:
    document = yaml.safe_load(source.read_text())
    document["rule_files"] = [str((source.parent / p).resolve()) for p in document["rule_files"]]
    return document


def test_a_wrong_expectation_fails(promtool, tmp_path: Path) -> None:
    document = _copy_with_absolute_rules(UNIT_TESTS / "availability.yml", tmp_path)
    firing = next(t for t in document["tests"] if t["alert_rule_test"][0]["exp_alerts"])
    firing["alert_rule_test"][0]["exp_alerts"][0]["exp_labels"]["severity"] = "critical"
    document["tests"] = [firing]
    path = tmp_path / "wrong.yml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(tools.ToolError, match="FAILED"):
        tools.test_rules([path])


def test_a_rule_file_pattern_matching_nothing_fails(promtool, tmp_path: Path) -> None:
    document = yaml.safe_load((UNIT_TESTS / "availability.yml").read_text())
    document["rule_files"] = [str(tmp_path / "no-such-dir" / "*.yml")]
    path = tmp_path / "orphan.yml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(tools.ToolError, match="matches no file"):
        tools.test_rules([path])
    with pytest.raises(tools.ToolError, match="matches no file"):
        tools.check_rules([str(tmp_path / "*.yml.missing")])
