"""The test project as a Channels application: Django's ASGI application for HTTP, and the
WebSocket routes wrapped in ``ObservedWebSockets``, as docs/deployment.md tells users to."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django_application = get_asgi_application()  # sets Django up before the consumers are imported

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 - after Django's setup

from instrumentation.channels import ObservedWebSockets  # noqa: E402
from tests.project.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": ObservedWebSockets(URLRouter(websocket_urlpatterns), max_connections=200),
    }
)
