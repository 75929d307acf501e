"""``/metrics``, ``/healthz`` (liveness) and ``/readyz`` (readiness).

None of them reveals settings, environment or versions beyond what the catalogue declares.
``/readyz`` checks that every configured database answers; ``/healthz`` only that the process
serves requests, so a database outage does not get every pod restarted.
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from instrumentation import conf, metrics_access, pending_migrations
from instrumentation._safety import internal_error
from instrumentation.metrics import exposition


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    settings = conf.get_settings()
    denied = metrics_access.check(request, settings, debug=django_settings.DEBUG)
    if denied is not None:
        response = HttpResponse(status=denied)
        if denied == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    try:
        if settings.metrics_enabled:
            pending_migrations.refresh_if_stale()
        body, content_type = exposition.render(request.META.get("HTTP_ACCEPT", ""))
    except Exception as exc:  # noqa: BLE001 - e.g. an unwritable metrics directory: say so, briefly
        internal_error(exc, "metrics.scrape")
        return HttpResponse(
            "metrics unavailable (see the service log)\n", status=503, content_type="text/plain"
        )
    return HttpResponse(body, content_type=content_type)


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    failing = []
    for alias in connections:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception:  # noqa: BLE001 - any failure means not ready
            failing.append(alias)
    if failing:
        return JsonResponse({"status": "unavailable", "databases": failing}, status=503)
    return JsonResponse({"status": "ok"})
