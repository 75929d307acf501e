"""A URLconf with 300 routes (and ``/metrics``), for the scrape-cost benchmark."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from benchmarks.project import views

ROUTES = 300


def route_path(index: int) -> str:
    return f"api/v1/resource{index:03d}/<int:pk>/"


urlpatterns: list[URLPattern | URLResolver] = [
    path(route_path(i), views.trivial, name=f"resource{i:03d}") for i in range(ROUTES)
]
urlpatterns.append(path("", include("instrumentation.urls")))
