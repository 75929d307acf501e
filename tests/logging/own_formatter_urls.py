"""URLs of the logging tests' own-formatter project: views that *return* error responses.

Django logs a returned 4xx/5xx response (``django.request``) in ``BaseHandler.get_response``,
after the whole middleware chain has returned, unlike a raised exception, which is logged
inside the chain. These views exercise that late line, sync and async, beside the test
project's usual views.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, HttpResponseServerError
from django.urls import include, path

_app_logger = logging.getLogger("shop.views")


def returned_not_found(request: HttpRequest) -> HttpResponse:
    _app_logger.info("looking for it")
    return HttpResponseNotFound("no such thing")


def returned_server_error(request: HttpRequest) -> HttpResponse:
    _app_logger.warning("giving up")
    return HttpResponseServerError("sorry")


async def async_returned_not_found(request: HttpRequest) -> HttpResponse:
    _app_logger.info("looking for it, async")
    return HttpResponseNotFound("no such thing")


urlpatterns = [
    path("returned/404/", returned_not_found),
    path("returned/500/", returned_server_error),
    path("async/returned/404/", async_returned_not_found),
    path("", include("tests.project.urls")),
]
