"""Query behaviour of the sample shop on PostgreSQL: the N+1 endpoint issues one query per row,
the ``select_related`` one a single query whatever the page size, orders run eagerly when no
broker is configured, and with Redis and the broker down the cached page is computed and orders
are kept, pending."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sample_app.fleet import Fleet, FleetConfig
from tests.support.procs import free_port

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def shop_env(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> dict[str, str]:
    """Environment of the sample app on a migrated, seeded PostgreSQL database."""
    fleet = Fleet(FleetConfig(state_dir=tmp_path_factory.mktemp("queries"), database_url=postgres_url))
    fleet.prepare()  # migrate and seed, start nothing
    return {**os.environ, **fleet.base_env(), "SHOP_ALLOWED_HOSTS": "testserver"}


def probe(env: dict[str, str], out: Path, repo_root: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "tests.sample_app.query_probe", str(out)],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    findings: dict[str, Any] = json.loads(out.read_text())
    return findings


@pytest.fixture(scope="module")
def findings(
    tmp_path_factory: pytest.TempPathFactory, shop_env: dict[str, str], repo_root: Path
) -> dict[str, Any]:
    env = {**shop_env, "SHOP_CELERY_EAGER": "1", "CELERY_BROKER_URL": ""}
    return probe(env, tmp_path_factory.mktemp("probe") / "findings.json", repo_root)


@pytest.mark.parametrize("size", [1, 5, 20])
def test_n_plus_one_endpoint_issues_one_query_per_row(findings: dict[str, Any], size: int) -> None:
    probe = findings[f"n_plus_one:{size}"]
    assert probe["status"] == 200
    assert probe["rows"] == size
    assert len(probe["sql"]) == 1 + size
    per_row = probe["sql"][1:]
    assert all('FROM "shop_category"' in sql for sql in per_row)


@pytest.mark.parametrize("size", [1, 5, 20])
def test_select_related_endpoint_issues_one_query(findings: dict[str, Any], size: int) -> None:
    probe = findings[f"select_related:{size}"]
    assert probe["rows"] == size
    assert len(probe["sql"]) == 1
    assert 'INNER JOIN "shop_category"' in probe["sql"][0]


def test_order_runs_eagerly_without_a_broker(findings: dict[str, Any]) -> None:
    order = findings["order"]
    assert order["status_code"] == 202
    assert order["response_status"] == "pending"
    assert order["stored_status"] == "confirmed"


def test_redis_and_broker_outage_degrade_gracefully(
    tmp_path: Path, shop_env: dict[str, str], repo_root: Path
) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    env = {**shop_env, "REDIS_URL": down, "CELERY_BROKER_URL": down, "SHOP_CELERY_EAGER": "0"}
    findings = probe(env, tmp_path / "findings.json", repo_root)
    # The cached page is computed instead of failing.
    assert findings["summary"]["status_code"] == 200
    assert findings["summary"]["x_cache"] == "ERROR"
    assert findings["summary"]["categories"] == 8
    # Publishing fails fast and the order is kept, pending, instead of answering 500.
    order = findings["order"]
    assert order["status_code"] == 202
    assert order["stored_status"] == "pending"
    assert order["seconds"] < 5
