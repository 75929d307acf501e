from __future__ import annotations

from django.urls import include, path

from tests.tracing.site import views

urlpatterns = [
    path("ok/", views.ok),
    path("items/<int:pk>/", views.item),
    path("db/", views.db),
    path("boom/", views.boom),
    path("enqueue/", views.enqueue),
    path("", include("instrumentation.urls")),
]
