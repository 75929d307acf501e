"""WebSocket consumers of the test project (Django Channels): echo (async and sync), one that
refuses the connection, one that closes with its own code, one that breaks."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer, WebsocketConsumer


class EchoConsumer(AsyncWebsocketConsumer):
    """Accepts, and sends every text message back."""

    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data, bytes_data=bytes_data)


class SyncEchoConsumer(WebsocketConsumer):
    """The same, as a sync consumer (run in a thread by Channels)."""

    def connect(self) -> None:
        self.accept()

    def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.send(text_data=text_data, bytes_data=bytes_data)


class RefusingConsumer(AsyncWebsocketConsumer):
    """Refuses every connection (closes before accepting: the handshake gets a 403)."""

    async def connect(self) -> None:
        await self.close()


class GoodbyeConsumer(AsyncWebsocketConsumer):
    """Accepts, answers the first message, then closes with an application close code."""

    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data="goodbye")
        await self.close(code=4001)


class ConsumerBrokeError(RuntimeError):
    """What :class:`BrokenConsumer` raises on its first message."""


class BrokenConsumer(AsyncWebsocketConsumer):
    """Accepts, then raises on the first message."""

    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> Any:
        raise ConsumerBrokeError("the consumer broke")
