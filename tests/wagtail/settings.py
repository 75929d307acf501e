"""A small Wagtail site with the instrumentation installed (SQLite in a temporary file)."""

from __future__ import annotations

import os

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "tests.wagtail.urls"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "taggit",
    "wagtail",
    "instrumentation",
    "tests.wagtail.cms",
]
MIDDLEWARE = [
    "instrumentation.middleware.ObservabilityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("WAGTAIL_TEST_DB", ":memory:")}
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
STATIC_URL = "/static/"
WAGTAIL_SITE_NAME = "tests"
WAGTAILADMIN_BASE_URL = "http://localhost"
FLEET_OBSERVABILITY = {
    "SERVICE_NAME": "wagtail-tests",
    "LOGGING_CONFIGURE": False,
    "TRACING_ENABLED": False,
    "ROUTE_NAME_LIMIT": 5,
}
