"""End to end: the sample fleet, a real Prometheus running our rules, a real Alertmanager, a webhook.

The rules are the compose rules generated with ``time_scale=1/60`` (an hour of burn-rate window
lasts a minute, ``for: 2m`` lasts two seconds), evaluated every second against two gunicorn
instances of the sample shop under steady traffic. Alertmanager runs the generated routing tree
and inhibitions with every receiver posting to the test's webhook receiver, so the receiver name
in each notification shows where the alert would have gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerting import api
from alerting.slo import load_spec
from sample_app.fleet import Fleet
from sample_app.processes import http_request
from tests.alerting.conftest import COMPOSE_SPEC
from tests.support.fixtures import FleetFactory

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TIME_SCALE = 1 / 60


class Traffic:
    """Steady GET traffic on a /shop/ page of every instance, from a background thread."""

    def __init__(self, fleet: Fleet, path: str = "/shop/products/", pause: float = 0.05) -> None:
        self.fleet, self.path, self.pause = fleet, path, pause
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for app in list(self.fleet.instances):
                try:
                    self.statuses.append(http_request(app.url + self.path, timeout=5).status)
                except OSError:
                    self.statuses.append(0)  # a killed instance
            self._stop.wait(self.pause)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def wait_for_notification(
    fleet: Fleet, predicate: Callable[[dict[str, Any], dict[str, Any]], bool], timeout: float = 120.0
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Block until a webhook payload carries an alert with ``predicate(payload, alert)``."""
    assert fleet.webhook is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for payload in fleet.webhook.payloads():
            for alert in payload.get("alerts", []):
                if predicate(payload, alert):
                    return payload, alert
        time.sleep(0.25)
    seen = [
        (p.get("receiver"), a["labels"].get("alertname"), a["labels"].get("instance"), a.get("status"))
        for p in fleet.webhook.payloads()
        for a in p.get("alerts", [])
    ]
    raise AssertionError(f"no matching notification within {timeout:.0f}s; received {seen}")


def notified(receiver: str, alertname: str, status: str = "firing", **labels: str):  # type: ignore[no-untyped-def]
    def predicate(payload: dict[str, Any], alert: dict[str, Any]) -> bool:
        return (
            payload.get("receiver") == receiver
            and alert.get("status") == status
            and alert["labels"].get("alertname") == alertname
            and all(alert["labels"].get(k) == v for k, v in labels.items())
        )

    return predicate


@pytest.fixture(scope="module")
def fleet(fleet_factory: FleetFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    rules_dir: Path = tmp_path_factory.mktemp("rules")
    rule_files = api.write_rules(rules_dir, COMPOSE_SPEC, time_scale=TIME_SCALE)
    fleet = fleet_factory(
        instances=2,
        workers=2,
        rules=rule_files,
        alertmanager=True,
        alertmanager_config=lambda url: api.alertmanager_config(
            url, slo_file=COMPOSE_SPEC, time_scale=TIME_SCALE
        ),
    )
    yield fleet
    fleet.clear_faults()


def test_error_burst_pages_and_resolves_then_instance_down_inhibits(fleet: Fleet) -> None:
    assert fleet.prometheus is not None
    assert fleet.alertmanager is not None
    loaded = {r["name"] for g in fleet.prometheus.rules() for r in g["rules"] if r["type"] == "alerting"}
    assert loaded == set(api.alert_names(api.build_context(load_spec(COMPOSE_SPEC))))

    # The heartbeat arrives first: the pipeline Prometheus -> Alertmanager -> receiver works.
    wait_for_notification(fleet, notified("heartbeat", "Watchdog"), timeout=60)

    with Traffic(fleet) as traffic:
        fleet.prometheus.wait_for_query('job:http_server_requests:rate1h{job="shop"} > 1', timeout=60)

        # An error burst through the sample app's fault switch pages shop's on-call.
        fleet.set_faults(error_rate=0.5)
        _, page = wait_for_notification(
            fleet,
            notified("shop-page", "FleetobsAvailabilityBudgetBurn", job="shop", long_window="1h"),
        )
        assert page["labels"]["severity"] == "critical"
        assert page["annotations"]["runbook_url"].endswith("/FleetobsAvailabilityBudgetBurn.md")
        assert "answered 5xx" in page["annotations"]["description"]
        assert 500 in traffic.statuses

        # Stopping the burst resolves the page.
        fleet.clear_faults()
        wait_for_notification(
            fleet,
            notified(
                "shop-page", "FleetobsAvailabilityBudgetBurn", status="resolved", job="shop", long_window="1h"
            ),
        )

        # Killing an instance fires FleetobsInstanceDown for exactly that instance...
        fleet.kill_instance(1)
        _, down = wait_for_notification(
            fleet, notified("shop-ticket", "FleetobsInstanceDown", instance="shop-2")
        )
        assert down["labels"]["job"] == "shop"
        # ... and shop is now below its minimum of two healthy instances.
        wait_for_notification(fleet, notified("shop-ticket", "FleetobsTooFewInstances", job="shop"))

    # ... and inhibits that instance's other alerts, not those of its healthy sibling.
    ends = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    # Posted as Prometheus would send them: with the target labels of the instance (environment too).
    target = {k: v for k, v in down["labels"].items() if k in ("job", "environment")}
    other = {"alertname": "FleetobsCPUNearLimit", "severity": "warning", **target}
    fleet.alertmanager.post_alerts(
        [
            {"labels": {**other, "instance": name}, "annotations": {"summary": "test"}, "endsAt": ends}
            for name in ("shop-1", "shop-2")
        ]
    )
    wait_for_notification(
        fleet, notified("shop-ticket", "FleetobsCPUNearLimit", instance="shop-1"), timeout=60
    )
    states = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        held = fleet.alertmanager.alerts(alertname="FleetobsCPUNearLimit")
        states = {a["labels"]["instance"]: a["status"] for a in held}
        if states.get("shop-2", {}).get("inhibitedBy"):
            break
        time.sleep(0.5)
    assert states["shop-2"]["state"] == "suppressed"
    assert states["shop-2"]["inhibitedBy"], states
    assert states["shop-1"]["state"] == "active"
    assert not [
        a
        for a in fleet.webhook.alerts()  # type: ignore[union-attr]
        if a["labels"].get("alertname") == "FleetobsCPUNearLimit" and a["labels"].get("instance") == "shop-2"
    ]
