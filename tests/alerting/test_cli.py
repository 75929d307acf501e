"""``fleetobs alerts generate`` and ``fleetobs alerts test``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import fleetobs
from tests.alerting.conftest import COMPOSE_ALERTMANAGER, COMPOSE_RULES, COMPOSE_SPEC, UNIT_TESTS


def test_generate_flat_layout(promtool, amtool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = fleetobs.main(
        [
            "alerts",
            "generate",
            "--out",
            str(tmp_path),
            "--slo",
            str(COMPOSE_SPEC),
            "--rule-label",
            "release=kps",
        ]
    )
    assert code == 0
    written = {Path(line).relative_to(tmp_path).as_posix() for line in capsys.readouterr().out.split()}
    assert written == {
        "rules/fleetobs-recording.yml",
        "rules/fleetobs-slo.yml",
        "rules/fleetobs-alerts.yml",
        "alertmanager.yml",
        "prometheus-rule.yaml",
    }
    rule = yaml.safe_load((tmp_path / "prometheus-rule.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    assert rule["metadata"]["labels"]["release"] == "kps"
    code = fleetobs.main(
        [
            "alerts",
            "test",
            "--rules",
            str(tmp_path / "rules" / "*.yml"),
            "--tests",
            str(UNIT_TESTS / "availability.yml"),
            "--alertmanager",
            str(tmp_path / "alertmanager.yml"),
        ]
    )
    assert code == 0


def test_generate_compose_layout_reproduces_the_committed_files(tmp_path: Path) -> None:
    assert (
        fleetobs.main(
            ["alerts", "generate", "--out", str(tmp_path), "--layout", "compose", "--slo", str(COMPOSE_SPEC)]
        )
        == 0
    )
    for path in COMPOSE_RULES.glob("*.yml"):
        assert (tmp_path / "prometheus" / "rules" / path.name).read_text() == path.read_text()
    assert (tmp_path / "alertmanager" / "alertmanager.yml").read_text() == COMPOSE_ALERTMANAGER.read_text()


def test_generate_rejects_a_bad_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "slo.yaml"
    spec.write_text("defaults: {availability: 120}\n")
    assert fleetobs.main(["alerts", "generate", "--out", str(tmp_path / "out"), "--slo", str(spec)]) == 2
    assert "availability" in capsys.readouterr().err


def test_test_fails_when_a_pattern_matches_nothing(
    promtool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = fleetobs.main(
        ["alerts", "test", "--rules", str(tmp_path / "*.yml"), "--alertmanager", str(COMPOSE_ALERTMANAGER)]
    )
    assert code == 1
    assert "matches no file" in capsys.readouterr().err
