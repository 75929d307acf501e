"""The sample shop's routes plus views that put secrets where real code puts them.

* ``reliability/boom/`` raises ``RuntimeError("upstream refused api_key=<X-Canary header>")``: an
  exception message carrying a credential, as a real client library's error might.
* ``reliability/login/`` (POST) logs the submitted form as Django prints it
  (``<QueryDict: {'password': ['...']}>``), a JSON body and a database URL with the password in
  it, then fails with the form in the exception message.
* ``reliability/reset/<uidb64>/<token>/`` is a token-in-path route like Django's password reset.

Logs, spans and shipped documents must show all of it with the secrets masked.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from sample_app.urls import urlpatterns as shop_urlpatterns


class UpstreamRefusedError(RuntimeError):
    """What a payment client might raise, quoting the credential it sent."""


def boom(request: HttpRequest) -> HttpResponse:
    canary = request.headers.get("X-Canary", "none")
    raise UpstreamRefusedError(f"upstream refused api_key={canary} for this request")


logger = logging.getLogger("reliability.views")


@csrf_exempt
def login(request: HttpRequest) -> HttpResponse:
    logger.info("login attempt %s", request.POST)
    logger.warning("upstream said %s", request.headers.get("X-Json-Body", ""))
    logger.warning("cannot reach %s", request.headers.get("X-Database-Url", ""))
    raise ValueError(f"login failed for {request.POST}")


def reset(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    logger.info("reset page shown")
    return HttpResponse("ok")


urlpatterns = [
    path("reliability/boom/", boom),
    path("reliability/login/", login),
    path("reliability/reset/<uidb64>/<token>/", reset),
    *shop_urlpatterns,
]
