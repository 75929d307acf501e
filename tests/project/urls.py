from __future__ import annotations

from django.urls import include, path, re_path

from tests.project import views

urlpatterns = [
    path("ok/", views.ok),
    path("items/<int:pk>/", views.item),
    re_path(r"^legacy/(?P<slug>[a-z]+)/$", views.legacy),
    path("boom/", views.boom),
    path("missing/", views.not_found),
    path("forbidden/", views.forbidden),
    path("books/n-plus-one/", views.books_n_plus_one),
    path("books/joined/", views.books_joined),
    path("cached/", views.cached),
    path("async/ok/", views.async_ok),
    path("async/boom/", views.async_boom),
    path("", include("instrumentation.urls")),
]
