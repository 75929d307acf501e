"""Generation is deterministic (the committed copies are checked by `fleetobs generate --check`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dashboards import generate, provisioning

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose" / "grafana"


def _run_generate(out: Path, seed: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    command = [sys.executable, str(ROOT / "fleetobs.py"), "dashboards", "generate"]
    command += ["--out", str(out / "dashboards"), "--provisioning", str(out / "provisioning")]
    subprocess.run(command, check=True, cwd=ROOT, env=env, capture_output=True)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generating_twice_gives_identical_bytes(tmp_path: Path) -> None:
    # Different hash seeds in separate processes: set or dict ordering cannot leak into the output.
    _run_generate(tmp_path / "a", "1")
    _run_generate(tmp_path / "b", "4242")
    first, second = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert first == second
    assert len([n for n in first if n.startswith("dashboards/")]) == len(generate.MODULES)
    assert "provisioning/datasources/datasources.yml" in first
    assert "provisioning/dashboards/provider.yml" in first


def test_provider_points_at_the_mounted_dashboards() -> None:
    provider = provisioning.provider()["providers"][0]
    assert provider["options"]["path"] == provisioning.DASHBOARDS_PATH
    assert provider["allowUiUpdates"] is False
