"""daphne, one process per port: two processes started with ``fleetobs serve daphne`` and one
shared ``PROMETHEUS_MULTIPROC_DIR``, as behind a balancer on one host. Either process answers a
scrape with both processes' requests (see :mod:`tests.servers.acceptance`); restarting one of
them while the other serves neither empties the directory nor loses a count."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers.acceptance import run_acceptance
from tests.servers.harness import Served, drive, expected_counts, scrape_counts

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def shared(tmp_path: Path) -> dict[str, str]:
    return {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}


def pair(tmp_path: Path) -> tuple[Served, Served]:
    return (
        Served("daphne", env=shared(tmp_path), workdir=tmp_path / "a"),
        Served("daphne", env=shared(tmp_path), workdir=tmp_path / "b"),
    )


def test_two_processes_report_every_request_and_log_json(tmp_path: Path) -> None:
    first, second = pair(tmp_path)
    with first, second:
        lines = run_acceptance([first, second])
    pids = {line["process"]["pid"] for line in lines if line["log"]["logger"] == "fleetobs.access"}
    assert len(pids) == 2  # both processes served requests
    assert any(line["message"].startswith("Starting server at") for line in lines)


def test_restarting_one_process_keeps_the_totals(tmp_path: Path) -> None:
    first, second = pair(tmp_path)
    with first:
        with second:
            sent = drive([first.url, second.url], count=100)
            expected = expected_counts(sent)
            assert scrape_counts(first.url) == expected
        assert scrape_counts(first.url) == expected  # the stopped process's counts stay
        again = Served("daphne", env=shared(tmp_path), port=second.port, workdir=tmp_path / "c")
        with again:
            assert scrape_counts(again.url) == expected  # it joined; nothing was emptied
            more = drive([first.url, again.url], count=100)
            total = expected_counts([*sent, *more])
            assert scrape_counts(first.url) == total
            assert scrape_counts(again.url) == total
