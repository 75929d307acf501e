"""uvicorn with ``--workers``, started with ``fleetobs serve uvicorn``: exact fleet-wide metrics
and JSON lines (see :mod:`tests.servers.acceptance`), and a killed worker loses no count."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.servers.acceptance import run_acceptance
from tests.servers.harness import Served, drive, expected_counts, json_lines, scrape_counts

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_workers_report_every_request_and_log_json(tmp_path: Path) -> None:
    with Served("uvicorn", workers=2, workdir=tmp_path) as server:
        lines = run_acceptance([server])
    loggers = {line["log"]["logger"] for line in lines}
    assert "uvicorn.error" in loggers  # the parent's "Started parent process" among them
    parent = [line for line in lines if line["message"].startswith("Started parent process")]
    assert len(parent) == 1


def test_a_killed_worker_loses_no_count(tmp_path: Path) -> None:
    with Served("uvicorn", workers=2, workdir=tmp_path) as server:
        first = drive([server.url], count=100)
        before = scrape_counts(server.url)
        assert before == expected_counts(first)
        victim = server.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        server.wait_for_workers(2, exclude=[victim])  # uvicorn starts a new one
        assert scrape_counts(server.url) == before
        second = drive([server.url], count=100)
        assert scrape_counts(server.url) == expected_counts([*first, *second])


def test_async_requests_log_no_warning(tmp_path: Path) -> None:
    with Served("uvicorn", workers=2, workdir=tmp_path) as server:
        drive([server.url], count=8)
        server.terminate()
    # An async middleware hook that is never awaited shows up as one RuntimeWarning per request.
    lines = json_lines(server.log_path)
    warnings = [line["message"] for line in lines if line["log"]["logger"] == "py.warnings"]
    assert warnings == []
