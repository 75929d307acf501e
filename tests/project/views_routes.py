"""Views whose URL pattern says too little: a single-page app's catch-all, named views."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views import View

from instrumentation.routes import route_name

#: The sections of the single-page app (its client-side router's top-level paths).
SPA_SECTIONS = frozenset({"users", "settings", "reports"})


def spa(request: HttpRequest, rest: str) -> HttpResponse:
    return HttpResponse("<html>the app's index.html</html>")


def spa_route(request: HttpRequest, match: Any) -> str | None:
    """A ROUTE_NAMER: the catch-all's requests named by the app's section, others left alone."""
    if match.url_name != "spa":
        return None
    section = match.kwargs["rest"].partition("/")[0]
    return f"spa:{section}" if section in SPA_SECTIONS else "spa:other"


def every_path(request: HttpRequest, match: Any) -> str:
    """An unbounded namer: one name per path (the route-name limit keeps the labels bounded)."""
    return f"path:{request.path}"


def broken_namer(request: HttpRequest, match: Any) -> str:
    raise RuntimeError("namer bug")


@route_name("checkout")
def checkout(request: HttpRequest, step: str) -> HttpResponse:
    return HttpResponse(step)


@route_name(lambda request, match: f"docs:{match.kwargs['section']}")
def docs(request: HttpRequest, section: str) -> HttpResponse:
    return HttpResponse(section)


@route_name("invite")
def invite(request: HttpRequest, invite_token: str) -> HttpResponse:
    return HttpResponse("welcome")


@route_name("reports")
class Reports(View):
    def get(self, request: HttpRequest, year: int) -> HttpResponse:
        return HttpResponse(str(year))
