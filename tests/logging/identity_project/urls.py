from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.urls import path


def home(request: HttpRequest) -> HttpResponse:
    logging.getLogger("bakery.views").info("serving the home page")
    return HttpResponse("bread")


urlpatterns = [path("", home)]
