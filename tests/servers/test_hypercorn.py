"""hypercorn with ``--workers``, started with ``fleetobs serve hypercorn``: exact fleet-wide
metrics and JSON lines (see :mod:`tests.servers.acceptance`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers.acceptance import run_acceptance
from tests.servers.harness import Served

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_workers_report_every_request_and_log_json(tmp_path: Path) -> None:
    with Served("hypercorn", workers=2, workdir=tmp_path) as server:
        lines = run_acceptance([server])
    running = [line for line in lines if line["log"]["logger"] == "hypercorn.error"]
    assert len([line for line in running if line["message"].startswith("Running on")]) == 2
