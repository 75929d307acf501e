"""The unapplied-migrations gauge, computed at scrape time, never at import or worker start.

Asking the database which migrations ran costs a query per alias; doing it at start-up of
every worker (as django-prometheus does) hammers the database during deploys and breaks ASGI
start-up. Here the worker answering a scrape refreshes the gauge at most once a minute.
"""

from __future__ import annotations

import time

from instrumentation._safety import internal_error
from instrumentation.lifecycle import on_reset
from instrumentation.metrics.registry import get

REFRESH_SECONDS = 60.0
_last_refresh: float | None = None  # monotonic seconds


def unapplied(alias: str) -> int:
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[alias])
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def refresh_if_stale() -> None:
    global _last_refresh
    now = time.monotonic()
    if _last_refresh is not None and now - _last_refresh < REFRESH_SECONDS:
        return
    _last_refresh = now
    from django.db import DatabaseError, connections

    gauge = get("fleetobs_django_migrations_unapplied")
    for alias in connections:
        try:
            gauge.labels(alias).set(unapplied(alias))
        except DatabaseError:
            continue  # the database is down: readiness and DB alerts report that, not us
        except Exception as exc:  # noqa: BLE001 - an unreachable database must not fail the scrape
            internal_error(exc, "migrations")


@on_reset
def reset() -> None:
    global _last_refresh
    _last_refresh = None
