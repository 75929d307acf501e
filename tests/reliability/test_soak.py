"""The short soak: the soak's machinery end to end, and no resource growth over about a minute.

Runs ``python -m tests.reliability.soak`` exactly as ``make soak`` does, shortened: one instance
of two workers, 15 seconds of unsampled load first, then 45 seconds sampled every 3 seconds.
The ten-minute run and its figures are in ``docs/reliability.md``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.harness import REPO, base_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_short_soak_shows_no_resource_growth(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "tests.reliability.soak",
        "--minutes", "0.75", "--interval", "3", "--prewarm", "15",
        "--instances", "1", "--workers", "2", "--rate", "15",
        "--output-dir", str(tmp_path), "--name", "short-soak",
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=REPO, env=base_env(), capture_output=True, text=True, timeout=280, check=False
    )
    output = result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads((tmp_path / "short-soak.json").read_text())
    assert result.returncode == 0, output
    assert report["passed"], output

    times = sorted({row["t"] for row in report["samples"]})
    assert len(times) >= 14, times
    roles = {row["role"] for row in report["samples"]}
    assert roles == {"master", "worker", "metrics-dir"}
    judged = {(v["series"].split()[-1], v["metric"]) for v in report["verdicts"]}
    for role in ("master", "workers"):
        for metric in ("rss_bytes", "fds", "threads"):
            assert (role, metric) in judged
    assert ("dir", "dir_bytes") in judged
    assert (tmp_path / "short-soak.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "2xx" in report["requests"]
