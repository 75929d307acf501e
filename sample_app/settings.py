"""Settings of the sample shop, read from the environment (twelve-factor style).

=========================  ==============================================================
``DATABASE_URL``           PostgreSQL (or any dj-database-url URL); SQLite file otherwise
``SHOP_SQLITE_PATH``       the SQLite file (default ``./shop.sqlite3``)
``REDIS_URL``              Django cache on Redis; local memory otherwise
``CELERY_BROKER_URL``      Celery broker (defaults to ``REDIS_URL``); tasks run eagerly without
``SHOP_SERVICE_NAME``      service name for the telemetry (default ``OTEL_SERVICE_NAME``/"shop")
``SHOP_FAULTS_FILE``       the fault-injection switch (see ``sample_app.shop.faults``)
``SHOP_FAULTS_TOKEN``      bearer token guarding the ``/faults/`` endpoint (disabled if unset)
``SHOP_PRODUCTION``        ``1`` turns on HTTPS-only cookies, HSTS and SSL redirect
``DJANGO_SECRET_KEY``      required when ``SHOP_PRODUCTION=1``
``SHOP_ALLOWED_HOSTS``     comma separated (default loopback names; ``*`` behind a proxy)
``SHOP_DEBUG``             ``1`` for Django's debug mode (never with ``SHOP_PRODUCTION``)
=========================  ==============================================================
"""

from __future__ import annotations

import os
from pathlib import Path

import django
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PRODUCTION = _env_bool("SHOP_PRODUCTION")
DEBUG = _env_bool("SHOP_DEBUG") and not PRODUCTION

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when SHOP_PRODUCTION=1")
    SECRET_KEY = "sample-shop-development-key-not-for-production"  # noqa: S105 - dev/demo only

ALLOWED_HOSTS = _env_list("SHOP_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = _env_list("SHOP_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "instrumentation",
    "sample_app.shop",
]

MIDDLEWARE = [
    "instrumentation.middleware.ObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "sample_app.shop.faults.fault_injection_middleware",
]

ROOT_URLCONF = "sample_app.urls"
WSGI_APPLICATION = "sample_app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _databases() -> dict[str, dict[str, object]]:
    url = os.environ.get("DATABASE_URL")
    if url:
        import dj_database_url

        config = dj_database_url.parse(
            url,
            conn_max_age=int(os.environ.get("SHOP_CONN_MAX_AGE", "60")),
            conn_health_checks=True,
        )
        return {"default": dict(config)}
    options: dict[str, object] = {"timeout": 20}
    if django.VERSION >= (5, 1):
        # Several gunicorn workers write to one file: take the write lock up front and use WAL so
        # readers never wait for writers (both options exist since Django 5.1).
        options["transaction_mode"] = "IMMEDIATE"
        options["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    path = os.environ.get("SHOP_SQLITE_PATH") or str(Path.cwd() / "shop.sqlite3")
    return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": path, "OPTIONS": options}}


DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SERVICE_NAME = os.environ.get("SHOP_SERVICE_NAME") or os.environ.get("OTEL_SERVICE_NAME") or "shop"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": SERVICE_NAME,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: a real broker when one is configured, otherwise tasks run in the web process.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = _env_bool("SHOP_CELERY_EAGER", default=CELERY_BROKER_URL == "memory://")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = f"{SERVICE_NAME}-tasks"
# A request that queues work must not hang while the broker is away: fail fast, keep the order.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "shop:account"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("SHOP_STATIC_ROOT") or str(Path.cwd() / "static")

FLEET_OBSERVABILITY = {"SERVICE_NAME": SERVICE_NAME}

# Production hardening: `manage.py check --deploy` is clean with SHOP_PRODUCTION=1.
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = _env_bool("SHOP_SSL_REDIRECT", default=True)
    # Probes and scrapes reach pods over plain HTTP inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^metrics$", r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
