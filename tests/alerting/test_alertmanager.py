"""The Alertmanager configuration: valid for amtool, routes reach the right receivers, no secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from alerting import alertmanager, api, tools
from tests.alerting.conftest import COMPOSE_ALERTMANAGER, COMPOSE_SPEC


def test_amtool_accepts_the_compose_config(amtool) -> None:
    result = tools.check_alertmanager(COMPOSE_ALERTMANAGER)
    assert "SUCCESS" in result.output
    assert "3 inhibit rules" in result.output


def test_amtool_accepts_the_default_and_webhook_configs(amtool, tmp_path: Path) -> None:
    default = tmp_path / "default.yml"
    default.write_text(api.alertmanager_yaml(api.build_context().spec))
    webhook = tmp_path / "webhook.yml"
    webhook.write_text(yaml.safe_dump(api.alertmanager_config("http://127.0.0.1:9/hook", time_scale=1 / 60)))
    for path in (default, webhook):
        assert "SUCCESS" in tools.check_alertmanager(path).output


ROUTES = [
    ({"alertname": "Watchdog", "severity": "info"}, "heartbeat"),
    ({"alertname": "FleetobsAvailabilityBudgetBurn", "severity": "critical", "job": "shop"}, "shop-page"),
    ({"alertname": "FleetobsCPUNearLimit", "severity": "warning", "job": "shop"}, "shop-ticket"),
    ({"alertname": "FleetobsNPlusOneRising", "severity": "info", "job": "shop"}, "shop-info"),
    ({"alertname": "FleetobsServiceDown", "severity": "critical", "job": "api"}, "platform-page"),
    ({"alertname": "FleetobsInstanceDown", "severity": "warning", "job": "api"}, "platform-ticket"),
    ({"alertname": "FleetobsNPlusOneRising", "severity": "info", "job": "api"}, "platform-info"),
    ({"alertname": "FleetobsTaskQueueBacklog", "severity": "warning"}, "platform-ticket"),
    # An explicit team label wins over the team the spec gives the job.
    (
        {"alertname": "FleetobsCPUNearLimit", "severity": "critical", "job": "api", "team": "shop"},
        "shop-page",
    ),
    (
        {"alertname": "FleetobsCPUNearLimit", "severity": "warning", "job": "shop", "team": "platform"},
        "platform-ticket",
    ),
    ({"alertname": "Unknown", "job": "shop"}, "shop-ticket"),
]


@pytest.mark.parametrize(("labels", "receiver"), ROUTES, ids=[r for _, r in ROUTES])
def test_amtool_routes_each_severity_and_team_to_its_receiver(amtool, labels, receiver) -> None:
    assert tools.route_receivers(COMPOSE_ALERTMANAGER, labels) == [receiver]


def test_the_webhook_variant_routes_the_same_way(amtool, tmp_path: Path) -> None:
    path = tmp_path / "webhook.yml"
    path.write_text(yaml.safe_dump(api.alertmanager_config("http://127.0.0.1:9/hook", slo_file=COMPOSE_SPEC)))
    for labels, receiver in ROUTES:
        assert tools.route_receivers(path, labels) == [receiver]


def test_webhook_variant_sends_everything_to_one_url() -> None:
    config = api.alertmanager_config("http://127.0.0.1:9/hook", slo_file=COMPOSE_SPEC)
    production = yaml.safe_load(COMPOSE_ALERTMANAGER.read_text())
    assert config["route"] == production["route"]
    assert config["inhibit_rules"] == production["inhibit_rules"]
    assert [r["name"] for r in config["receivers"]] == [r["name"] for r in production["receivers"]]
    for receiver in config["receivers"]:
        assert set(receiver) == {"name", "webhook_configs"}
        assert [c["url"] for c in receiver["webhook_configs"]] == ["http://127.0.0.1:9/hook"]


def test_no_secret_is_written_into_the_config() -> None:
    text = COMPOSE_ALERTMANAGER.read_text()
    config = yaml.safe_load(text)
    for key in (
        "api_url:",
        "routing_key:",
        "service_key:",
        "auth_password:",
        "smtp_auth_password:",
        "bot_token:",
        "credentials:",
    ):
        assert not re.search(rf"^\s*{key}", text, re.MULTILINE), key
    files = re.findall(r"_file: (\S+)", text)
    assert files, "secrets must be referenced by *_file"
    assert all(f.startswith("/etc/alertmanager/secrets/") for f in files)
    assert config["global"]["slack_api_url_file"] == "/etc/alertmanager/secrets/slack_url"
    pagerduty = [c for r in config["receivers"] for c in r.get("pagerduty_configs", [])]
    assert pagerduty
    assert all(set(c) >= {"routing_key_file"} for c in pagerduty)


def test_receivers_cover_webhook_email_slack_and_pagerduty() -> None:
    config = yaml.safe_load(COMPOSE_ALERTMANAGER.read_text())
    kinds = {k for r in config["receivers"] for k in r if k.endswith("_configs")}
    assert kinds == {"webhook_configs", "email_configs", "slack_configs", "pagerduty_configs"}
    heartbeat = next(r for r in config["receivers"] if r["name"] == "heartbeat")
    assert heartbeat["webhook_configs"][0]["url"] == "http://webhook-sink:9099/heartbeat"


def test_grouping_and_inhibition() -> None:
    config = yaml.safe_load(COMPOSE_ALERTMANAGER.read_text())
    # environment (where the scrape config adds it) keeps one environment's alerts apart from another's.
    assert config["route"]["group_by"] == ["alertname", "job", "environment"]
    assert config["inhibit_rules"] == alertmanager.INHIBIT_RULES
    instance_down = config["inhibit_rules"][0]
    assert instance_down["equal"] == ["job", "environment", "instance"]
    critical = config["inhibit_rules"][2]
    assert (critical["source_matchers"], critical["target_matchers"]) == (
        ['severity="critical"'],
        ['severity="warning"'],
    )
