"""Burn-rate math and the SLO spec: the numbers the pages are built from."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from alerting import slo


@pytest.mark.parametrize(
    ("share", "period", "window", "factor"),
    [
        (0.02, "30d", "1h", 14.4),
        (0.05, "30d", "6h", 6.0),
        (0.10, "30d", "1d", 3.0),
        (0.10, "30d", "3d", 1.0),
        (0.02, "28d", "1h", 13.44),
        (0.05, "28d", "6h", 5.6),
    ],
)
def test_burn_rate_factors_match_the_sre_workbook(
    share: float, period: str, window: str, factor: float
) -> None:
    assert slo.burn_rate_factor(share, period, window) == pytest.approx(factor)


def test_windows_are_the_multiwindow_pairs() -> None:
    pairs = [(w.long, w.short, w.severity, w.factor("30d"), w.for_) for w in slo.BURN_RATE_WINDOWS]
    assert pairs == [
        ("1h", "5m", "critical", 14.4, "2m"),
        ("6h", "30m", "critical", 6.0, "15m"),
        ("1d", "2h", "warning", 3.0, "1h"),
        ("3d", "6h", "warning", 1.0, "3h"),
    ]
    used = {w for p in slo.BURN_RATE_WINDOWS for w in (p.long, p.short)}
    assert used == set(slo.RATE_WINDOWS)


def test_thresholds_budget_and_exhaustion() -> None:
    assert slo.error_ratio_threshold(14.4, 0.999) == pytest.approx(0.0144)
    assert slo.budget_remaining(0.0005, 0.999) == pytest.approx(0.5)
    assert slo.budget_remaining(0.002, 0.999) == pytest.approx(-1.0)
    # Burning at 14.4x empties a 30-day budget in 50 hours.
    assert slo.time_to_exhaustion_seconds(14.4, "30d") == pytest.approx(50 * 3600)
    assert math.isinf(slo.time_to_exhaustion_seconds(0, "30d"))


def test_no_file_gives_the_fleet_default() -> None:
    spec = slo.load_spec(None)
    assert spec.services == ()
    assert (spec.default.availability, spec.default.latency_objective, spec.default.latency_threshold) == (
        0.999,
        0.99,
        0.5,
    )
    assert spec.default.window == "30d"


def test_overrides_inherit_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text(
        "window: 28d\n"
        "defaults: {availability: 99.95, team: core}\n"
        "services:\n"
        "  checkout: {latency: {threshold: 1.0}, min_instances: 3}\n"
        "  search: {availability: 99, team: search}\n"
    )
    spec = slo.load_spec(path)
    checkout, search = spec.services
    assert (checkout.name, checkout.availability, checkout.latency_threshold, checkout.min_instances) == (
        "checkout",
        0.9995,
        1.0,
        3,
    )
    assert (checkout.window, checkout.team) == ("28d", "core")
    assert (search.availability, search.team, search.latency_threshold) == (0.99, "search", 0.5)
    assert [t.name for t in spec.all_teams()] == ["core", "search"]
    assert spec.known_services == ("checkout", "search")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("window: 7d\n", "28d"),
        ("defaults: {availability: 100}\n", "[50, 100)"),
        ("defaults: {availability: high}\n", "percentage"),
        ("defaults: {latency: {threshold: 0.3}}\n", "bucket boundary"),
        ("defaults: {latency: {objective: 90}}\n", "too low for burn-rate"),
        ("services: {shop: {availabilty: 99}}\n", "availabilty"),
        ("service: {}\n", "service"),
        ("thresholds: {cpu: 0.5}\n", "cpu"),
    ],
)
def test_bad_specs_are_rejected_with_the_offending_value(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        slo.load_spec(path)
