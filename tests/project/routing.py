"""The test project's WebSocket routes (Channels' ``URLRouter``), one nested router included."""

from __future__ import annotations

from channels.routing import URLRouter
from django.urls import path, re_path

from tests.project import consumers

websocket_urlpatterns = [
    path("ws/echo/<str:room>/", consumers.EchoConsumer.as_asgi()),
    path("ws/sync-echo/", consumers.SyncEchoConsumer.as_asgi()),
    path("ws/refused/", consumers.RefusingConsumer.as_asgi()),
    path("ws/goodbye/", consumers.GoodbyeConsumer.as_asgi()),
    path("ws/broken/", consumers.BrokenConsumer.as_asgi()),
    path("ws/rooms/", URLRouter([re_path(r"^(?P<number>[0-9]+)/$", consumers.EchoConsumer.as_asgi())])),
]
