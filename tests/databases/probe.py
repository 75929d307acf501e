"""Run the test project against one real database and driver; print what happened as JSON.

``python -m tests.databases.probe <backend>`` where backend is ``sqlite``,
``postgresql-psycopg3``, ``postgresql-psycopg2`` or ``mariadb``. It runs in its own process
because Django picks the PostgreSQL driver at import (psycopg 3 when installed) and the MySQL
backend needs its driver installed as ``MySQLdb``.

Two things are recorded: the N+1 view's metrics and spans under the instrumentation, and, for
every odd-but-legal call the driver accepts, the outcome without the instrumentation and with
it (rows, or the exception's type and message), which must be the same.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

BACKEND = sys.argv[1] if len(sys.argv) > 1 else "sqlite"


def _select_driver() -> None:
    if BACKEND == "postgresql-psycopg2":
        sys.modules["psycopg"] = None  # type: ignore[assignment] - Django then falls back to psycopg2
    if BACKEND == "mariadb":
        import pymysql

        pymysql.install_as_MySQLdb()


class StrStatement:
    """An object a driver may take for its ``__str__`` (sqlite3 and psycopg do not)."""

    def __str__(self) -> str:
        return "SELECT 7"


def outcome(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        value = call()
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome compared
        return {"error": type(exc).__name__, "message": str(exc).splitlines()[0] if str(exc) else ""}
    return {"value": repr(value)}


def cases(connection: Any) -> Iterator[tuple[str, Callable[[], Any]]]:
    def run(statement: Any, params: Any = None) -> Any:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else None

    def many(statement: str, params: Any) -> Any:
        with connection.cursor() as cursor:
            cursor.executemany(statement, params)
            return cursor.rowcount

    def proc(name: str, args: list[Any]) -> Any:
        with connection.cursor() as cursor:
            cursor.callproc(name, args)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else None

    from tests.project.models import Author

    table = Author._meta.db_table
    yield "str", lambda: run("SELECT 1")
    yield "str with params", lambda: run("SELECT %s", [5])
    yield "bytes", lambda: run(b"SELECT 3")
    yield "bytearray", lambda: run(bytearray(b"SELECT 4"))
    yield "object with __str__", lambda: run(StrStatement())
    yield "not a statement", lambda: run(12345)
    yield "None", lambda: run(None)
    yield "driver error", lambda: run("SELECT * FROM no_such_table_at_all")
    yield "syntax error", lambda: run("SELEC 1")
    yield (
        "executemany generator",
        lambda: many(f"INSERT INTO {table} (name) VALUES (%s)", ((f"gen {i}",) for i in range(3))),
    )
    yield "executemany empty", lambda: many(f"INSERT INTO {table} (name) VALUES (%s)", [])
    yield "server-side cursor", lambda: [a.name for a in Author.objects.order_by("id").iterator(chunk_size=2)]
    if BACKEND.startswith("postgresql"):
        from django.db.backends.postgresql.psycopg_any import sql

        yield "sql.SQL", lambda: run(sql.SQL("SELECT 2"))
        yield "sql.Composed", lambda: run(sql.SQL("SELECT {}").format(sql.Literal(41)))
        yield "sql.Identifier", lambda: run(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        yield "sql.Composed with params", lambda: run(sql.SQL("SELECT {} + %s").format(sql.Literal(1)), [2])
        yield "callproc", lambda: proc("abs", [-3])
    if BACKEND == "mariadb":
        yield "callproc", lambda: proc("fleetobs_double", [21])
    if BACKEND == "sqlite":
        yield "callproc", lambda: proc("abs", [-3])


def main() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.databases.settings"
    os.environ["FLEETOBS_TEST_DATABASE"] = BACKEND
    _select_driver()
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from instrumentation import db
    from instrumentation.testing import get_sample_value, raise_internal_errors
    from instrumentation.tracing.testing import capture_spans
    from tests.project.models import Author, Book

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, keepdb=False)
    report: dict[str, Any] = {"vendor": connection.vendor, "driver": type(connection.connection).__module__}
    try:
        if BACKEND == "mariadb":
            with connection.cursor() as cursor:
                cursor.execute("CREATE PROCEDURE fleetobs_double(IN x INT) BEGIN SELECT x * 2; END")
        for a in range(3):
            author = Author.objects.create(name=f"author {a}")
            for b in range(4):
                Book.objects.create(title=f"book {a}.{b}", author=author)
        with capture_spans() as spans, raise_internal_errors():
            status = Client().get("/books/n-plus-one/").status_code
        finished = spans.get_finished_spans()
        (server,) = [s for s in finished if s.kind.name == "SERVER"]
        children = [s for s in finished if s.attributes and s.attributes.get("db.system")]
        report["n_plus_one"] = {
            "status": status,
            "detected": get_sample_value("fleetobs_db_n_plus_one_total", {"http_route": "books/n-plus-one/"}),
            "queries": get_sample_value(
                "fleetobs_db_queries_per_request_sum", {"http_route": "books/n-plus-one/"}
            ),
            "db_spans": len(children),
            "db_spans_children_of_server": sum(
                1
                for s in children
                if s.parent is not None
                and s.parent.span_id == server.context.span_id
                and s.context.trace_id == server.context.trace_id
            ),
            "db_system": sorted({str(s.attributes["db.system"]) for s in children if s.attributes}),
            "select_count": get_sample_value(
                "db_client_operation_duration_seconds_count",
                {"db_alias": "default", "db_system": connection.vendor, "db_operation_name": "SELECT"},
            ),
        }
        compared: dict[str, Any] = {}
        for name, call in cases(connection):
            db.uninstrument()
            bare = outcome(call)
            db.instrument()
            with raise_internal_errors():  # a fault of ours shows as a different outcome
                instrumented = outcome(call)
            compared[name] = {"bare": bare, "instrumented": instrumented}
        report["cases"] = compared
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
