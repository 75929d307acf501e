"""The database matrix: SQLite, PostgreSQL with psycopg 3 and psycopg2, MariaDB, for real.

Each backend runs in its own process (:mod:`tests.databases.probe`): the N+1 view must be
detected with its 13 queries, each a child span of the request's server span; and every call
the driver accepts, odd or not (psycopg ``sql`` compositions, bytes, objects, generators for
``executemany``, ``callproc``, server-side cursors, driver errors), must end exactly as it does
without the instrumentation.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import in_ci

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
DRIVERS = {
    "sqlite": "sqlite3",
    "postgresql-psycopg3": "psycopg",
    "postgresql-psycopg2": "psycopg2",
    "mariadb": "pymysql",
}


def probe(backend: str) -> dict[str, object]:
    if importlib.util.find_spec(DRIVERS[backend]) is None:
        message = f"driver {DRIVERS[backend]} is not installed (pip install -e '.[dev]')"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    result = subprocess.run(
        [sys.executable, "-m", "tests.databases.probe", backend],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


@pytest.fixture(scope="module", params=list(DRIVERS))
def report(request: pytest.FixtureRequest) -> tuple[str, dict[str, object]]:
    return request.param, probe(request.param)


def test_n_plus_one_metrics_and_child_spans(report: tuple[str, dict[str, object]]) -> None:
    backend, found = report
    n_plus_one = found["n_plus_one"]
    assert isinstance(n_plus_one, dict)
    assert n_plus_one["status"] == 200
    assert n_plus_one["detected"] == 1.0
    assert n_plus_one["queries"] == 13.0
    assert n_plus_one["db_spans"] == 13
    assert n_plus_one["db_spans_children_of_server"] == 13
    assert n_plus_one["db_system"] == [{"sqlite": "sqlite", "mariadb": "mysql"}.get(backend, "postgresql")]
    assert (n_plus_one["select_count"] or 0) >= 13


def test_every_call_the_driver_accepts_ends_as_without_us(report: tuple[str, dict[str, object]]) -> None:
    backend, found = report
    cases = found["cases"]
    assert isinstance(cases, dict)
    if backend.startswith("postgresql"):
        # The compositions psycopg documents for identifiers and literals, and bytes, return rows.
        for name, rows in {
            "sql.SQL": "[(2,)]",
            "sql.Composed": "[(41,)]",
            "sql.Composed with params": "[(3,)]",
            "bytes": "[(3,)]",
        }.items():
            assert cases[name]["instrumented"] == {"value": rows}, name
    differing = {name: case for name, case in cases.items() if case["bare"] != case["instrumented"]}
    assert differing == {}
