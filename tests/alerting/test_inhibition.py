"""Inhibition in a real Alertmanager running the generated configuration.

Alerts are posted straight to Alertmanager's API (as Prometheus would post them), so every rule
of the inhibition table is exercised in seconds; the end-to-end test covers the same path from
real metrics for FleetobsInstanceDown.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerting import api
from tests.alerting.conftest import COMPOSE_SPEC
from tests.support.procs import Alertmanager, WebhookSink

pytestmark = pytest.mark.integration


def _alert(alertname: str, severity: str, **labels: str) -> dict[str, Any]:
    ends = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    return {
        "labels": {"alertname": alertname, "severity": severity, **labels},
        "annotations": {"summary": alertname},
        "endsAt": ends,
    }


def _snapshot(manager: Alertmanager) -> dict[tuple[str, ...], str]:
    return {
        (
            a["labels"]["alertname"],
            a["labels"]["severity"],
            a["labels"].get("job", ""),
            a["labels"].get("instance", ""),
        ): a["status"]["state"]
        for a in manager.alerts()
    }


def _states(manager: Alertmanager, expected: int, timeout: float = 20.0) -> dict[tuple[str, ...], str]:
    """Alert states once all ``expected`` alerts are processed (one more pass for inhibitions)."""
    deadline = time.monotonic() + timeout
    states = _snapshot(manager)
    while time.monotonic() < deadline:
        if len(states) == expected and "unprocessed" not in states.values():
            time.sleep(1)
            return _snapshot(manager)
        time.sleep(0.25)
        states = _snapshot(manager)
    return states


def test_generated_inhibitions_mute_the_right_alerts(tmp_path: Path) -> None:
    with WebhookSink() as sink:
        config = api.alertmanager_config(sink.url, slo_file=COMPOSE_SPEC, time_scale=1 / 60)
        with Alertmanager(config, workdir=tmp_path) as manager:
            alerts = [
                # Instance down mutes the same instance's other alerts, not its sibling's.
                _alert("FleetobsInstanceDown", "warning", job="shop", instance="shop-2"),
                _alert("FleetobsCPUNearLimit", "warning", job="shop", instance="shop-2"),
                _alert("FleetobsCPUNearLimit", "warning", job="shop", instance="shop-1"),
                # Critical mutes the warning of the same alert, job and instance only.
                _alert("FleetobsFileDescriptorsNearLimit", "critical", job="api", instance="api-1"),
                _alert("FleetobsFileDescriptorsNearLimit", "warning", job="api", instance="api-1"),
                _alert("FleetobsFileDescriptorsNearLimit", "warning", job="api", instance="api-2"),
                # A whole service down mutes its per-instance availability alerts.
                _alert("FleetobsServiceDown", "critical", job="cart"),
                _alert("FleetobsInstanceDown", "warning", job="cart", instance="cart-1"),
                # Where targets carry an environment, a service down in one environment mutes that
                # environment's instance alerts only.
                _alert("FleetobsServiceDown", "critical", job="web", environment="production"),
                _alert(
                    "FleetobsInstanceDown", "warning", job="web", instance="web-1", environment="production"
                ),
                _alert("FleetobsInstanceDown", "warning", job="web", instance="web-2", environment="staging"),
            ]
            manager.post_alerts(alerts)
            states = _states(manager, len(alerts))
            assert states == {
                ("FleetobsInstanceDown", "warning", "shop", "shop-2"): "active",
                ("FleetobsCPUNearLimit", "warning", "shop", "shop-2"): "suppressed",
                ("FleetobsCPUNearLimit", "warning", "shop", "shop-1"): "active",
                ("FleetobsFileDescriptorsNearLimit", "critical", "api", "api-1"): "active",
                ("FleetobsFileDescriptorsNearLimit", "warning", "api", "api-1"): "suppressed",
                ("FleetobsFileDescriptorsNearLimit", "warning", "api", "api-2"): "active",
                ("FleetobsServiceDown", "critical", "cart", ""): "active",
                ("FleetobsInstanceDown", "warning", "cart", "cart-1"): "suppressed",
                ("FleetobsServiceDown", "critical", "web", ""): "active",
                ("FleetobsInstanceDown", "warning", "web", "web-1"): "suppressed",
                ("FleetobsInstanceDown", "warning", "web", "web-2"): "active",
            }
            # Notifications reach the routed receivers, without the muted alerts.
            sink.wait_for(lambda a: a["labels"].get("alertname") == "FleetobsServiceDown", timeout=30)
            sink.wait_for(lambda a: a["labels"].get("instance") == "api-2", timeout=30)
            time.sleep(2)
            delivered = {
                (p["receiver"], a["labels"]["alertname"], a["labels"].get("instance", ""))
                for p in sink.payloads()
                for a in p["alerts"]
            }
            assert ("shop-page", "FleetobsCPUNearLimit", "shop-2") not in delivered
            assert ("shop-ticket", "FleetobsCPUNearLimit", "shop-2") not in delivered
            assert ("shop-ticket", "FleetobsCPUNearLimit", "shop-1") in delivered
            assert ("platform-ticket", "FleetobsFileDescriptorsNearLimit", "api-1") not in delivered
            assert ("platform-page", "FleetobsFileDescriptorsNearLimit", "api-1") in delivered
            assert ("platform-page", "FleetobsServiceDown", "") in delivered
            assert ("platform-ticket", "FleetobsInstanceDown", "cart-1") not in delivered
