"""The measured views.

``trivial``         returns two bytes.
``orm``             five different ORM queries and a cache get.
``applog``          the trivial view plus one application log line with two fields.
``db_raw``          the same SELECT ``queries`` times through ``connection.cursor()``, one log line.
``db_orm``          the same ORM ``get()`` ``queries`` times (an N+1 pattern), one log line.

Application log lines go through the standard library's ``logging`` (which this project's
pipeline renders), or through ``structlog.get_logger`` when the anchor stack's django-structlog
is configured, as its documentation shows. Bare Django has no handler at INFO: its line is
dropped, so the overhead includes writing it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from benchmarks import configs

SEED_ITEMS = 20
MESSAGE = "order placed"


def _app_logger() -> Callable[..., Any]:
    if "structlog" in configs.get(os.environ.get("FLEETOBS_BENCH_CONFIG", "bare")).anchors:
        import structlog

        # Looked up at call time: structlog is configured after this module may be imported.
        proxy = structlog.get_logger(__name__)

        def structlog_info(message: str, **fields: Any) -> None:
            proxy.info(message, **fields)

        return structlog_info
    logger = logging.getLogger(__name__)

    def info(message: str, **fields: Any) -> None:
        logger.info(message, extra=fields)

    return info


app_log = _app_logger()


def trivial(request: HttpRequest, pk: int = 0) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


def orm(request: HttpRequest) -> JsonResponse:
    from benchmarks.project.models import Item

    count = Item.objects.count()
    cheap = list(Item.objects.filter(price__lte=5).values_list("name", flat=True))
    exists = Item.objects.filter(name="item-3").exists()
    first = Item.objects.get(pk=1)
    latest = [item.name for item in Item.objects.order_by("-pk")[:3]]
    cached = cache.get("bench:banner")
    return JsonResponse(
        {"count": count, "cheap": cheap, "exists": exists, "first": first.name, "latest": latest, "c": cached}
    )


def applog(request: HttpRequest) -> HttpResponse:
    app_log(MESSAGE, order_id=1234, cart_items=3)
    return HttpResponse(b"ok", content_type="text/plain")


def db_raw(request: HttpRequest, queries: int) -> HttpResponse:
    from benchmarks.project.models import Item

    sql = f"SELECT id, name, price FROM {Item._meta.db_table} WHERE id = %s"
    total = 0
    with connection.cursor() as cursor:
        for index in range(queries):
            cursor.execute(sql, [index % SEED_ITEMS + 1])
            total += cursor.fetchone()[2]
    app_log(MESSAGE, order_id=1234, cart_items=queries)
    return HttpResponse(str(total).encode(), content_type="text/plain")


def db_orm(request: HttpRequest, queries: int) -> HttpResponse:
    from benchmarks.project.models import Item

    total = 0
    for index in range(queries):
        total += Item.objects.get(pk=index % SEED_ITEMS + 1).price
    app_log(MESSAGE, order_id=1234, cart_items=queries)
    return HttpResponse(str(total).encode(), content_type="text/plain")


def seed() -> None:
    """Create the tables and rows (the database is SQLite in memory, one per process)."""
    from django.core.management import call_command

    from benchmarks.project.models import Item

    call_command("migrate", run_syncdb=True, verbosity=0)
    Item.objects.bulk_create(Item(name=f"item-{i}", price=i) for i in range(1, SEED_ITEMS + 1))
    cache.set("bench:banner", "hello", None)
