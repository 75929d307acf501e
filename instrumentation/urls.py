"""``path("", include("instrumentation.urls"))`` adds ``/metrics``, ``/healthz`` and ``/readyz``."""

from __future__ import annotations

from django.urls import path

from instrumentation import views

app_name = "fleet_observability"
urlpatterns = [
    path("metrics", views.metrics, name="metrics"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
]
