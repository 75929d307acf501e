"""granian with ``--workers``, started with ``fleetobs serve granian``: exact fleet-wide metrics
and JSON lines (see :mod:`tests.servers.acceptance`), and a killed worker (respawned with
``--respawn-failed-workers``) loses no count."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.servers.acceptance import run_acceptance
from tests.servers.harness import Served, drive, expected_counts, scrape_counts

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_workers_report_every_request_and_log_json(tmp_path: Path) -> None:
    with Served("granian", workers=2, workdir=tmp_path) as server:
        lines = run_acceptance([server])
    assert "_granian" in {line["log"]["logger"] for line in lines}


def test_a_killed_worker_loses_no_count(tmp_path: Path) -> None:
    extra = ["--respawn-failed-workers"]
    with Served("granian", workers=2, workdir=tmp_path, extra_args=extra) as server:
        first = drive([server.url], count=100)
        before = scrape_counts(server.url)
        assert before == expected_counts(first)
        victim = server.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        server.wait_for_workers(2, exclude=[victim])
        assert scrape_counts(server.url) == before
        second = drive([server.url], count=100)
        assert scrape_counts(server.url) == expected_counts([*first, *second])
