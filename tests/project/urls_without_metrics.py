from __future__ import annotations

from django.urls import path

from tests.project import views

urlpatterns = [path("ok/", views.ok)]
