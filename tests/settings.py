"""Django settings for the unit tests: a tiny project with the instrumentation installed."""

from __future__ import annotations

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "tests.project.urls"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "instrumentation",
    "tests.project",
]
MIDDLEWARE = [
    "instrumentation.middleware.ObservabilityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
FLEET_OBSERVABILITY = {
    "SERVICE_NAME": "tests",
    "SERVICE_VERSION": "1.2.3",
    "ENVIRONMENT": "test",
    "LOGGING_CONFIGURE": False,
    "TRACING_ENABLED": False,
}
