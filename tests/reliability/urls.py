"""The sample shop's routes plus ``reliability/boom/``, which fails with a secret in its message.

The view raises ``RuntimeError("upstream refused api_key=<X-Canary header>")``: an exception
message carrying a credential, as a real client library's error might. Logs and spans must show
the message with the credential masked.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from sample_app.urls import urlpatterns as shop_urlpatterns


class UpstreamRefusedError(RuntimeError):
    """What a payment client might raise, quoting the credential it sent."""


def boom(request: HttpRequest) -> HttpResponse:
    canary = request.headers.get("X-Canary", "none")
    raise UpstreamRefusedError(f"upstream refused api_key={canary} for this request")


urlpatterns = [path("reliability/boom/", boom), *shop_urlpatterns]
