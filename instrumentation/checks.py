"""Django system checks for misconfiguration, with stable ids.

====================  ====================================================================
``fleetobs.E001``     ``ObservabilityMiddleware`` is not in ``MIDDLEWARE``.
``fleetobs.E002``     ``ObservabilityMiddleware`` is listed more than once.
``fleetobs.E003``     A ``FLEET_OBSERVABILITY`` value (or its environment variable) is invalid.
``fleetobs.E004``     ``/metrics`` would be served to the internet (``check --deploy`` only).
``fleetobs.E005``     ``ROUTE_NAMER`` cannot be imported or is not callable.
``fleetobs.W001``     ``ObservabilityMiddleware`` is not the first middleware.
``fleetobs.W002``     ``FLEET_OBSERVABILITY`` has a key this version does not know.
``fleetobs.W003``     ``/metrics`` is open to the world while ``DEBUG`` is off.
``fleetobs.W004``     ``instrumentation.urls`` is not included, so nothing serves ``/metrics``.
``fleetobs.I001``     OpenTelemetry's Django instrumentation is active: its span is the request's.
====================  ====================================================================
"""

from __future__ import annotations

import difflib
from typing import Any

from django.conf import settings as django_settings
from django.core import checks

from instrumentation import conf, metrics_access
from instrumentation.routes import namer_problem

MIDDLEWARE_PATH = "instrumentation.middleware.ObservabilityMiddleware"
#: What ``DjangoInstrumentor`` (``opentelemetry-instrument``) inserts at the top of MIDDLEWARE.
OTEL_DJANGO_MIDDLEWARE = frozenset(
    {
        "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware",
        "opentelemetry.instrumentation.django.middleware.sqlcommenter_middleware.SqlCommenter",
    }
)


def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    middleware = list(getattr(django_settings, "MIDDLEWARE", None) or [])
    count = middleware.count(MIDDLEWARE_PATH)
    if count == 0:
        return [
            checks.Error(
                f"{MIDDLEWARE_PATH} is not in MIDDLEWARE, so no request is measured.",
                hint=f"Add '{MIDDLEWARE_PATH}' as the first entry of MIDDLEWARE.",
                id="fleetobs.E001",
            )
        ]
    if count > 1:
        return [
            checks.Error(
                f"{MIDDLEWARE_PATH} is listed {count} times in MIDDLEWARE; "
                f"requests would be counted {count} times.",
                hint="Keep one entry, the first.",
                id="fleetobs.E002",
            )
        ]
    # OpenTelemetry's own middleware may come first: it only starts the span this one enriches.
    first = next((entry for entry in middleware if entry not in OTEL_DJANGO_MIDDLEWARE), MIDDLEWARE_PATH)
    if first != MIDDLEWARE_PATH:
        return [
            checks.Warning(
                f"{MIDDLEWARE_PATH} is not the first middleware: time spent in and responses returned by "
                f"{first} are not measured.",
                hint="Move it to the top of MIDDLEWARE.",
                id="fleetobs.W001",
            )
        ]
    return []


def check_opentelemetry(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    middleware = list(getattr(django_settings, "MIDDLEWARE", None) or [])
    if not conf.get_settings().tracing_enabled or not OTEL_DJANGO_MIDDLEWARE.intersection(middleware):
        return []
    return [
        checks.Info(
            "OpenTelemetry's Django instrumentation (opentelemetry-instrument or DjangoInstrumentor) is "
            "active: each request's SERVER span is the one it starts. fleetobs starts no second one; it "
            "names that span from the route and adds its attributes, status and trace-id header, and its "
            "database and cache spans are children of it. Spans are exported as the OpenTelemetry SDK is "
            "configured (OTEL_* variables or your TracerProvider).",
            hint="Nothing to do. If an OpenTelemetry database instrumentation (psycopg, sqlite3, ...) is "
            "also active, set TRACE_DB to False to avoid two spans per query.",
            id="fleetobs.I001",
        )
    ]


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    for key in sorted(conf.user_keys() - conf.KNOWN_KEYS):
        close = difflib.get_close_matches(key, sorted(conf.KNOWN_KEYS), n=1)
        messages.append(
            checks.Warning(
                f"{conf.SETTING_NAME} has an unknown key {key!r}; it is ignored.",
                hint=f"Did you mean {close[0]!r}?" if close else "See docs/configuration.md for the keys.",
                id="fleetobs.W002",
            )
        )
    for key, problem in conf.problems():
        messages.append(
            checks.Error(
                f"{conf.SETTING_NAME}[{key!r}] {problem}." if key else f"{problem}.",
                hint="See docs/configuration.md.",
                id="fleetobs.E003",
            )
        )
    return messages


def check_route_namer(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    problem = namer_problem(conf.get_settings())
    if problem is None:
        return []
    return [
        checks.Error(
            f"{problem}; requests keep their URL pattern as route.",
            hint="Set ROUTE_NAMER to the dotted path of a callable (request, resolver_match) -> str | None.",
            id="fleetobs.E005",
        )
    ]


def check_metrics_exposure(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    settings = conf.get_settings()
    if not settings.metrics_enabled or django_settings.DEBUG:
        return []
    if metrics_access.is_open_to_world(settings):
        return [
            checks.Warning(
                "/metrics is readable from any network without a token while DEBUG is off.",
                hint="Restrict METRICS_ALLOWED_NETWORKS or set METRICS_BEARER_TOKEN.",
                id="fleetobs.W003",
            )
        ]
    return []


def check_metrics_deploy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``check --deploy``: an error when ``/metrics`` would be readable through the internet."""
    if django_settings.DEBUG:
        return []
    return [
        checks.Error(
            f"/metrics would be served to the internet: {reason}.",
            hint="Set METRICS_BEARER_TOKEN (FLEETOBS_METRICS_TOKEN) and give it to Prometheus "
            "(authorization.credentials), or keep METRICS_ALLOWED_NETWORKS private and "
            "METRICS_TRUST_PROXY off. See docs/security.md.",
            id="fleetobs.E004",
        )
        for reason in metrics_access.exposures(conf.get_settings())
    ]


def check_urls(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from django.urls import NoReverseMatch, reverse

    if not conf.get_settings().metrics_enabled or conf.get_settings().metrics_port:
        return []
    try:
        reverse("fleet_observability:metrics")
    except NoReverseMatch:
        return [
            checks.Warning(
                "No URL serves /metrics: instrumentation.urls is not included in the URLconf.",
                hint='Add path("", include("instrumentation.urls")) to urlpatterns, or set METRICS_PORT.',
                id="fleetobs.W004",
            )
        ]
    except Exception:  # noqa: BLE001 - a broken URLconf is reported by Django's own checks
        return []
    return []


def register() -> None:
    checks.register(check_middleware, checks.Tags.compatibility)
    checks.register(check_opentelemetry, checks.Tags.compatibility)
    checks.register(check_settings, checks.Tags.compatibility)
    checks.register(check_route_namer, checks.Tags.compatibility)
    checks.register(check_metrics_exposure, checks.Tags.security, deploy=False)
    checks.register(check_metrics_deploy, checks.Tags.security, deploy=True)
    checks.register(check_urls, checks.Tags.urls)
