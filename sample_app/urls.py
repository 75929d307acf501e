"""Top-level routes: the shop, login/logout, the fault switch, admin, and /metrics + health."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from sample_app.shop import control, views

urlpatterns = [
    path("", views.home, name="home"),
    path("shop/", include("sample_app.shop.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("faults/", control.fault_switch, name="faults"),
    path("admin/", admin.site.urls),
    path("", include("instrumentation.urls")),
]
