"""The ASGI lifespan Django lacks: pending spans and log lines written when a worker stops.

uvicorn stops a worker by finishing its requests, running the application's lifespan shutdown,
then raising the SIGTERM it caught again, so the process dies by the signal and ``atexit``
never runs; granian's forked workers leave through ``os._exit``. Spans still queued for export
(up to ``OTEL_BSP_SCHEDULE_DELAY``, 5 s by default) were lost at every restart. The lifespan
shutdown is the one moment both servers give the application, and Django's ASGI handler does not
take it (the servers say so at start: "lifespan protocol appears unsupported").

:class:`Lifespan` wraps any ASGI application (Django's, Channels' ``ProtocolTypeRouter``):
``lifespan.startup`` is accepted, ``lifespan.shutdown`` flushes the span exporter and the log
output in a thread (the event loop keeps running) before it is acknowledged; every other scope
goes to the wrapped application untouched.

``fleetobs serve`` uses it without any change to ``project/asgi.py``: it hands the server
``instrumentation.servers.asgi:application`` and names the project's application in
``FLEETOBS_ASGI_APPLICATION``, which each worker imports on first use.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from instrumentation import logging as fleet_logging
from instrumentation import tracing
from instrumentation._safety import internal_error

__all__ = ["TARGET_ENV", "Lifespan", "flush"]

TARGET_ENV = "FLEETOBS_ASGI_APPLICATION"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def flush() -> None:
    """Export pending spans and write pending log lines (a worker is stopping)."""
    for step, name in (
        (tracing.shutdown, "servers.flush.tracing"),
        (fleet_logging.shutdown, "servers.flush.logging"),
    ):
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - the worker stops anyway
            internal_error(exc, name)


class Lifespan:
    """``app`` with the ASGI lifespan protocol answered (shutdown flushes telemetry)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.get_running_loop().run_in_executor(None, flush)
                await send({"type": "lifespan.shutdown.complete"})
                return


def _load() -> Lifespan:
    target = os.environ.get(TARGET_ENV, "")
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ImportError(f"{TARGET_ENV} must name the application as module:attribute, got {target!r}")
    app = importlib.import_module(module_name)
    for part in attribute.split("."):
        app = getattr(app, part)
    return Lifespan(app)  # type: ignore[arg-type]


#: The project's application named in ``FLEETOBS_ASGI_APPLICATION``, with the lifespan; a plain
#: attribute because some servers (hypercorn) look names up in the module's namespace.
application: Lifespan | None = _load() if os.environ.get(TARGET_ENV) else None
