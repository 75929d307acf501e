"""A URLconf with credentials in paths: Django's own auth URLs and token routes of the kind projects
write (invitations, signed downloads, magic links), each view logging a line while it runs."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path

log = logging.getLogger("tests.sensitive")


def logs_and_answers(request: HttpRequest, **kwargs: object) -> HttpResponse:
    log.info("handling the request")
    return HttpResponse("ok")


async def logs_and_answers_async(request: HttpRequest, **kwargs: object) -> HttpResponse:
    log.info("handling the request")
    return HttpResponse("ok")


def logs_its_path(request: HttpRequest, **kwargs: object) -> HttpResponse:
    log.info("serving %s now", request.path)
    return HttpResponse("ok")


def refuses(request: HttpRequest, **kwargs: object) -> HttpResponse:
    raise PermissionDenied


urlpatterns = [
    path("revoked/<str:invite_token>/", refuses),
    path("accounts/", include("django.contrib.auth.urls")),
    path("invites/<str:invite_token>/accept/", logs_and_answers),
    path("async/invites/<str:invite_token>/accept/", logs_and_answers_async),
    path("downloads/<path:signature>", logs_and_answers),
    path("activate/<slug:activation_key>/", logs_and_answers),
    re_path(r"^legacy-reset/(?P<uidb36>[0-9A-Za-z]+)-(?P<token>.+)/$", logs_and_answers),
    path("echo-path/<str:access_token>/", logs_its_path),
    path("magic/<slug:spell>/", logs_and_answers),
    path("keywords/<slug:keyword>/", logs_and_answers),
    path("", include("tests.project.urls")),
]
