"""URLs of the overhead and load benchmarks (plus each stack's own metrics endpoint)."""

from __future__ import annotations

import os

from django.urls import URLPattern, URLResolver, include, path

from benchmarks.project import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("trivial/", views.trivial, name="trivial"),
    path("orm/", views.orm, name="orm"),
    path("applog/", views.applog, name="applog"),
    path("db/raw/<int:queries>/", views.db_raw, name="db-raw"),
    path("db/orm/<int:queries>/", views.db_orm, name="db-orm"),
]

_config = os.environ.get("FLEETOBS_BENCH_CONFIG", "bare")
if _config.startswith("ours"):
    urlpatterns.append(path("", include("instrumentation.urls")))
elif _config in {"anchor", "anchor-prometheus"}:
    urlpatterns.append(path("", include("django_prometheus.urls")))
