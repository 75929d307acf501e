"""Views of the tracing test site."""

from __future__ import annotations

import os

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from instrumentation import tracing

QUERIES = 3


def ok(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"pid": os.getpid(), "ids": tracing.current_ids()})


def item(request: HttpRequest, pk: int) -> HttpResponse:
    return JsonResponse({"pk": pk})


def db(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        for value in range(QUERIES):
            cursor.execute("SELECT %s", [value])
            cursor.fetchone()
    return JsonResponse({"queries": QUERIES})


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


def enqueue(request: HttpRequest) -> HttpResponse:
    from tests.tracing.site import celery_app  # noqa: F401 - the app must exist before publishing
    from tests.tracing.site.tasks import echo_ids

    result = echo_ids.delay()
    ids = result.get(timeout=20)
    return JsonResponse({"request": tracing.current_ids(), "task": ids})
