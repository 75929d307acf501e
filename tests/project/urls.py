from __future__ import annotations

from django.urls import include, path, re_path
from django.views.static import serve

from tests.project import views, views_responses, views_routes

urlpatterns = [
    path("ok/", views.ok),
    path("echo-size/", views.echo_size),
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
    re_path(r"^static/(?P<path>.*)$", serve, {"document_root": views_responses.STATIC_DIR}),
    path("responses/file/", views_responses.file_response),
    path("responses/memory-file/", views_responses.memory_file),
    path("responses/stream/", views_responses.stream),
    path("responses/astream/", views_responses.astream),
    path("responses/tagged/", views_responses.tagged),
    path("responses/events/", views_responses.events),
    path("responses/sync-events/", views_responses.sync_events),
    path("responses/broken/", views_responses.broken_stream),
    re_path(r"^app/(?P<rest>.*)$", views_routes.spa, name="spa"),
    path("shop/<slug:step>/", views_routes.checkout),
    path("docs/<slug:section>/", views_routes.docs),
    path("invite/<str:invite_token>/", views_routes.invite),
    path("reports/<int:year>/", views_routes.Reports.as_view()),
    path("", include("instrumentation.urls")),
]
