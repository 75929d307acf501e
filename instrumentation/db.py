"""Database queries, through Django's own hooks: no engine swapping.

An execute wrapper is attached to every connection as it is created (``connection_created``),
so psycopg 3, Django's connection pool and any vendor work unchanged. Each query feeds the
duration histogram, a child span when tracing records, and the current request's tally, from
which the middleware derives queries-per-request and N+1 detections. Django passes SQL with
placeholders and parameters apart, so the statement text itself identifies "the same query".
Failed connection attempts are counted by wrapping ``BaseDatabaseWrapper.connect``.

Whatever the driver accepts passes through untouched: the statement object itself (``str``,
``bytes``, psycopg's ``sql.SQL``/``sql.Composed``, anything with ``__str__``) and the
parameters (a generator for ``executemany`` included) reach the driver as given, and the
driver's own errors reach the caller unchanged. Only a text copy of the statement, made once
per distinct statement, feeds the telemetry; if that copy cannot be made the query still runs
and the failure is counted as an internal error.

Per query, the wrapper does lookups, not work. Each database (alias) keeps a bounded dict from
statement text to a :class:`_Statement` made the first time that text runs there: the verb, the
statement without literals, the span's name and attributes, and the duration histogram's label
child. What is left per query is the child span, one histogram observation and one count in the
request's tally.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from instrumentation import tracing
from instrumentation._safety import internal_error
from instrumentation.lifecycle import on_reset
from instrumentation.metrics import enabled as metrics_enabled
from instrumentation.metrics import fast
from instrumentation.metrics.registry import get
from instrumentation.sql_literals import strip_literals
from instrumentation.tracing.spans import FrozenAttributes

_OPERATIONS = frozenset(
    {
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "WITH",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "CREATE",
        "ALTER",
        "DROP",
        "TRUNCATE",
        "SET",
        "SHOW",
        "EXPLAIN",
        "PRAGMA",
        "COPY",
        "VACUUM",
        "ANALYZE",
    }
)
_MAX_CACHED = 4096
_perf_counter = time.perf_counter


class RequestQueries:
    """The queries of one request: how many, and how often each statement ran."""

    __slots__ = ("count", "statements")

    def __init__(self) -> None:
        self.count = 0
        self.statements: dict[str, int] = {}

    def repeated(self, threshold: int) -> tuple[str, int] | None:
        """The most repeated statement if it ran more than ``threshold`` times."""
        if not self.statements:
            return None
        statement, count = max(self.statements.items(), key=lambda item: item[1])
        return (statement, count) if count > threshold else None


class _Statement:
    """One statement text as one database runs it: what its queries' telemetry needs."""

    __slots__ = ("attributes", "duration", "operation", "span_name")

    def __init__(self, database: _Database, text: str) -> None:
        operation, statement = _parse(text, database.vendor)
        self.operation = operation
        self.span_name = f"{operation} {database.alias}"
        #: Shared by every span of this statement (a span copies them on its first write).
        self.attributes = FrozenAttributes(
            {
                "db.system": database.vendor,
                "db.namespace": database.namespace,
                "db.operation.name": operation,
                "db.query.text": statement,
            }
        )
        #: The duration histogram's label child, made when a query is first measured.
        self.duration: Any = None


class _Database:
    """One connection alias: its vendor and name, and its statements seen so far (bounded)."""

    __slots__ = ("alias", "name", "namespace", "statements", "vendor")

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.alias: str = connection.alias
        self.vendor: str = connection.vendor
        # Kept to notice a change (the test runner renames the database in place).
        self.name = connection.settings_dict.get("NAME")
        self.namespace = str(self.name or "")
        self.statements: dict[str, _Statement] = {}

    def add(self, text: str) -> _Statement:
        found = _Statement(self, text)
        if len(self.statements) >= _MAX_CACHED:
            self.statements.clear()
        self.statements[text] = found
        return found


_current: ContextVar[RequestQueries | None] = ContextVar("fleetobs_queries", default=None)
_statement_cache: dict[str, tuple[str, str]] = {}
_children: dict[tuple[str, str, str], Any] = {}
_databases: dict[str, _Database] = {}
#: ``BaseDatabaseWrapper.connect`` as :func:`instrument` found it (``None``: not installed).
_original_connect: Callable[[BaseDatabaseWrapper], None] | None = None


def begin_request() -> tuple[RequestQueries, Token[RequestQueries | None]]:
    tally = RequestQueries()
    return tally, _current.set(tally)


def end_request(token: Token[RequestQueries | None]) -> None:
    _current.reset(token)


def statement_text(sql: Any, cursor: Any = None) -> str:
    """A text copy of any statement object a driver accepts, for telemetry only.

    psycopg compositions render through the driver's own ``as_string`` with the raw cursor (so
    identifiers are quoted as the server will see them); bytes are decoded leniently.
    """
    if isinstance(sql, str):
        return str.__str__(sql)  # a plain str, whatever the subclass does to hashing or printing
    if isinstance(sql, bytes | bytearray | memoryview):
        return bytes(sql).decode("utf-8", "replace")
    as_string = getattr(sql, "as_string", None)
    if as_string is not None:
        for context in (getattr(cursor, "cursor", None), cursor):
            if context is None:
                continue
            try:
                rendered = as_string(context)
            except Exception:  # noqa: BLE001, S112 - try the next context, then str()
                continue
            return rendered.decode("utf-8", "replace") if isinstance(rendered, bytes) else str(rendered)
    try:
        return str(sql)
    except Exception:  # noqa: BLE001 - an object without text still runs; it is named by type
        return f"<{type(sql).__name__}>"


def statement_info(sql: str, vendor: str | None = None) -> tuple[str, str]:
    """The SQL verb (``SELECT``...; ``OTHER`` if unexpected) and the statement without literals,
    quoted by ``vendor``'s rules (Django's vendor name).

    Cached per statement text: Django sends the same placeholder SQL again and again (a service
    with two database vendors could see one text stripped by the first vendor's rules).
    """
    found = _statement_cache.get(sql)
    if found is None:
        found = _parse(sql, vendor)
        if len(_statement_cache) >= _MAX_CACHED:
            _statement_cache.clear()
        _statement_cache[sql] = found
    return found


def _parse(sql: str, vendor: str | None) -> tuple[str, str]:
    """:func:`statement_info` without its cache (each database caches its own statements)."""
    head = sql.lstrip(" (\n\t").split(None, 1)
    verb = head[0].upper() if head else ""
    return verb if verb in _OPERATIONS else "OTHER", strip_literals(sql, vendor)


def _statement(connection: BaseDatabaseWrapper, text: str) -> _Statement:
    """What the telemetry of a query of ``text`` on ``connection`` needs (two lookups, usually)."""
    database = _databases.get(connection.alias)
    if (
        database is None
        or database.vendor != connection.vendor
        or database.name is not connection.settings_dict.get("NAME")
    ):
        database = _databases[connection.alias] = _Database(connection)
    found = database.statements.get(text)
    return found if found is not None else database.add(text)


def _duration_child(alias: str, vendor: str, operation: str) -> Any:
    key = (alias, vendor, operation)
    child = _children.get(key)
    if child is None:
        child = _children[key] = fast.wrap(
            get("db_client_operation_duration_seconds").labels(alias, vendor, operation)
        )
    return child


def _execute_wrapper(
    execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    span = None
    try:
        connection = context["connection"]
        text = sql if type(sql) is str else statement_text(sql, context.get("cursor"))
        entry = _statement(connection, text)
        span = tracing.start_span(entry.span_name, entry.attributes)
    except Exception as exc:  # noqa: BLE001 - the query must run whatever telemetry does
        internal_error(exc, "db.span")
        return execute(sql, params, many, context)  # recorded nowhere: better than not run
    start = _perf_counter()
    error: BaseException | None = None
    try:
        return execute(sql, params, many, context)
    except Exception as exc:
        error = exc
        raise
    finally:
        elapsed = _perf_counter() - start
        try:
            if metrics_enabled():
                duration = entry.duration
                if duration is None:
                    duration = entry.duration = _duration_child(
                        connection.alias, connection.vendor, entry.operation
                    )
                duration.observe(elapsed)
                if error is not None:
                    get("fleetobs_db_errors").labels(
                        connection.alias, connection.vendor, type(error).__name__
                    ).inc()
            tally = _current.get()
            if tally is not None:
                tally.count += 1
                tally.statements[text] = tally.statements.get(text, 0) + 1
            if span is not None:
                tracing.end_span(span, error)
        except Exception as exc:  # noqa: BLE001
            internal_error(exc, "db.record")


def _on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if _execute_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(_execute_wrapper)


def _counting_connect(
    original: Callable[[BaseDatabaseWrapper], None],
) -> Callable[[BaseDatabaseWrapper], None]:
    def connect(self: BaseDatabaseWrapper) -> None:
        try:
            original(self)
        except Exception:
            try:
                if metrics_enabled():
                    get("fleetobs_db_connection_errors").labels(self.alias, self.vendor).inc()
            except Exception as exc:  # noqa: BLE001
                internal_error(exc, "db.connect")
            raise

    connect.__wrapped__ = original  # type: ignore[attr-defined]
    return connect


def instrument() -> None:
    """Attach to every database connection (idempotent)."""
    global _original_connect
    if _original_connect is not None:
        return
    connection_created.connect(_on_connection_created, dispatch_uid="fleetobs-db")
    original = BaseDatabaseWrapper.connect
    BaseDatabaseWrapper.connect = _counting_connect(original)  # type: ignore[method-assign,assignment]
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        _on_connection_created(None, connection)
    _original_connect = original


def uninstrument() -> None:
    global _original_connect
    original = _original_connect
    if original is None:
        return
    connection_created.disconnect(dispatch_uid="fleetobs-db")
    BaseDatabaseWrapper.connect = original  # type: ignore[method-assign,assignment]
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        while _execute_wrapper in connection.execute_wrappers:
            connection.execute_wrappers.remove(_execute_wrapper)
    _original_connect = None


@on_reset
def reset() -> None:
    _statement_cache.clear()
    _children.clear()
    _databases.clear()
