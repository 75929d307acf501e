"""Views of the unit-test project: each exercises one path through the instrumentation."""

from __future__ import annotations

import asyncio

from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from tests.project.models import Book


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def legacy(request: HttpRequest, slug: str) -> HttpResponse:
    return HttpResponse(slug)


def item(request: HttpRequest, pk: int) -> HttpResponse:
    return JsonResponse({"pk": pk})


def boom(request: HttpRequest) -> HttpResponse:
    raise ValueError("boom")


def not_found(request: HttpRequest) -> HttpResponse:
    raise Http404("nope")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def books_n_plus_one(request: HttpRequest) -> HttpResponse:
    names = [book.author.name for book in Book.objects.all()]
    return JsonResponse({"authors": names})


def books_joined(request: HttpRequest) -> HttpResponse:
    names = [book.author.name for book in Book.objects.select_related("author")]
    return JsonResponse({"authors": names})


def cached(request: HttpRequest) -> HttpResponse:
    value = cache.get("answer")
    if value is None:
        cache.set("answer", 42)
        value = 42
    return JsonResponse({"answer": value})


async def async_ok(request: HttpRequest) -> HttpResponse:
    await asyncio.sleep(0)
    return HttpResponse("async ok")


async def async_boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("async boom")


def echo_size(request: HttpRequest) -> HttpResponse:
    """Answers with the size of the request body it read."""
    return HttpResponse(str(len(request.body)))
