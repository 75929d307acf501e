"""Request body sizes: declared by Content-Length, or received in chunks without one.

An ASGI server hands Django a body without a ``Content-Length`` header (HTTP/1.1 chunked
uploads, HTTP/2 streams) as several ``http.request`` messages; Django's ASGI handler receives
them all before the view runs. The request's body size is then what was received, counted
without moving the stream the view reads from.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.asgi import get_asgi_application
from django.test import Client

from instrumentation.logging.testing import CapturedLogs
from instrumentation.testing import get_sample_value
from tests.support.asgi import http_scope

CHUNKS = [b"a" * 1000, b"b" * 2000, b"c" * 345]
SIZE = "http_server_request_body_size_bytes"


def _sizes(route: str, method: str = "POST") -> tuple[float | None, float | None]:
    labels = {"http_request_method": method, "http_route": route}
    return get_sample_value(f"{SIZE}_count", labels), get_sample_value(f"{SIZE}_sum", labels)


async def _post_in_chunks(path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> list[Any]:
    application = get_asgi_application()
    pending = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await asyncio.Event().wait()  # no disconnect: the client waits for the answer
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = http_scope("POST", path, headers)
    await asyncio.wait_for(application(scope, receive, send), timeout=30)
    return sent


@pytest.mark.django_db(transaction=True)
def test_a_body_received_in_chunks_without_a_length_is_counted(logs: CapturedLogs) -> None:
    sent = async_to_sync(_post_in_chunks)("/echo-size/", CHUNKS, [(b"transfer-encoding", b"chunked")])
    assert sent[0]["status"] == 200
    # The view read the whole body: counting it did not move the stream.
    assert b"".join(m.get("body", b"") for m in sent[1:]) == str(sum(map(len, CHUNKS))).encode()
    assert _sizes("echo-size/") == (1.0, float(sum(map(len, CHUNKS))))
    (line,) = logs.access()
    assert line["http"]["request"]["body"]["bytes"] == sum(map(len, CHUNKS))


@pytest.mark.django_db(transaction=True)
def test_a_declared_length_is_used_as_before(logs: CapturedLogs) -> None:
    body = b"x" * 1234
    sent = async_to_sync(_post_in_chunks)("/echo-size/", [body], [(b"content-length", b"1234")])
    assert sent[0]["status"] == 200
    assert _sizes("echo-size/") == (1.0, 1234.0)


@pytest.mark.django_db
def test_a_request_without_a_body_is_not_sized() -> None:
    assert Client().post("/echo-size/", data=b"", content_type="application/octet-stream").status_code == 200
    count, _ = _sizes("echo-size/")
    assert not count  # most requests have no body: nothing to size
