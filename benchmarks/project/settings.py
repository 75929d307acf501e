"""Settings of the benchmark project, for the configuration named by ``FLEETOBS_BENCH_CONFIG``.

The base is a typical small service: Django's default middleware (minus messages), SQLite in
memory, the local-memory cache, ``DEBUG`` off. The configuration adds this project (its app,
its middleware first) or the anchor stack, wired as each anchor's documentation shows.
``FLEETOBS_BENCH_URLCONF=routes`` serves the 300-route URLconf instead of the two views.
"""

from __future__ import annotations

import os

from benchmarks import configs

CONFIG = configs.get(os.environ.get("FLEETOBS_BENCH_CONFIG", "bare"))
_ANCHORS = set(CONFIG.anchors)

SECRET_KEY = "benchmarks-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = (
    "benchmarks.project.routes"
    if os.environ.get("FLEETOBS_BENCH_URLCONF") == "routes"
    else "benchmarks.project.urls"
)
WSGI_APPLICATION = "benchmarks.project.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "benchmarks.project",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if CONFIG.ours is not None:
    INSTALLED_APPS.append("instrumentation")
    MIDDLEWARE.insert(0, "instrumentation.middleware.ObservabilityMiddleware")
    FLEET_OBSERVABILITY = dict(CONFIG.ours)
    if CONFIG.export != "sink":  # the receiver process the driver started
        FLEET_OBSERVABILITY["OTLP_ENDPOINT"] = os.environ[f"FLEETOBS_BENCH_OTLP_{CONFIG.export.upper()}"]

if CONFIG.extra.get("minimal"):
    MIDDLEWARE.insert(0, "benchmarks.project.minimal.MinimalMiddleware")

if "prometheus" in _ANCHORS:
    # https://github.com/django-commons/django-prometheus#configuration
    INSTALLED_APPS.append("django_prometheus")
    MIDDLEWARE.insert(0, "django_prometheus.middleware.PrometheusBeforeMiddleware")
    MIDDLEWARE.append("django_prometheus.middleware.PrometheusAfterMiddleware")
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.sqlite3"
    CACHES["default"]["BACKEND"] = "django_prometheus.cache.backends.locmem.LocMemCache"

if "structlog" in _ANCHORS:
    # https://django-structlog.readthedocs.io/en/latest/getting_started.html
    import structlog

    INSTALLED_APPS.append("django_structlog")
    MIDDLEWARE.append("django_structlog.middlewares.RequestMiddleware")
    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json_formatter": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processor": structlog.processors.JSONRenderer(),
            },
        },
        "handlers": {
            # Standard output, which the benchmark points at /dev/null.
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json_formatter",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "django_structlog": {"handlers": ["json"], "level": "INFO"},
            # The views' own application log lines.
            "benchmarks": {"handlers": ["json"], "level": "INFO"},
        },
    }
