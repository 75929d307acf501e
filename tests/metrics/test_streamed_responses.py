"""Streamed responses are measured to their last byte, and a client that leaves early is a 499.

The request duration histogram and the status the view chose are taken when the response starts
(see :mod:`instrumentation.middleware`); the stream's own duration histogram and the access line
come when the last byte is sent, or when the server gives up on the client. Sync iterators are
driven as a WSGI server drives them (the test client consumes and closes them); async iterators
through Django's real ASGI handler, whose ``http.disconnect`` cancels the task sending the body.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.asgi import get_asgi_application
from django.test import AsyncClient, Client

from instrumentation.catalog import CLIENT_CLOSED_REQUEST
from instrumentation.logging.testing import CapturedLogs
from instrumentation.testing import get_sample_value
from tests.project.views_responses import EVENT, STREAM_BYTES, StreamBrokenError
from tests.support.asgi import http_scope

STREAM = "fleetobs_http_server_stream_duration_seconds"
REQUEST = "http_server_request_duration_seconds"


def labels(route: str, status: int) -> dict[str, str]:
    return {"http_request_method": "GET", "http_route": route, "http_response_status_code": str(status)}


def observed(name: str, route: str, status: int) -> tuple[float | None, float | None]:
    """(count, sum) of histogram ``name`` for GET ``route`` answered ``status``."""
    return (
        get_sample_value(f"{name}_count", labels(route, status)),
        get_sample_value(f"{name}_sum", labels(route, status)),
    )


@pytest.mark.django_db
def test_a_sync_stream_is_timed_to_its_last_byte(logs: CapturedLogs) -> None:
    response = Client().get("/responses/stream/")
    assert observed(STREAM, "responses/stream/", 200) == (None, None)  # not sent yet
    assert observed(REQUEST, "responses/stream/", 200)[0] == 1.0  # the response started
    assert len(b"".join(response.streaming_content)) == STREAM_BYTES  # type: ignore[attr-defined]
    count, to_last_byte = observed(STREAM, "responses/stream/", 200)
    assert count == 1.0
    assert to_last_byte is not None
    assert to_last_byte >= (observed(REQUEST, "responses/stream/", 200)[1] or 0.0)
    (line,) = logs.access()
    assert line["http"]["response"]["status_code"] == 200
    assert line["event"]["duration"] == pytest.approx(to_last_byte * 1e9, rel=1e-6)


@pytest.mark.django_db(transaction=True)
def test_an_async_stream_is_timed_to_its_last_byte(logs: CapturedLogs) -> None:
    async def fetch() -> bytes:
        response = await AsyncClient().get("/responses/astream/")
        return b"".join([chunk async for chunk in response.streaming_content])

    assert len(async_to_sync(fetch)()) == STREAM_BYTES
    assert observed(STREAM, "responses/astream/", 200)[0] == 1.0
    (line,) = logs.access()
    assert line["http"]["response"]["status_code"] == 200
    assert line["log"]["level"] == "info"


@pytest.mark.django_db
def test_a_sync_stream_closed_by_the_server_before_its_end_is_a_499(logs: CapturedLogs) -> None:
    response = Client().get("/responses/sync-events/")
    chunks = iter(response.streaming_content)  # type: ignore[attr-defined]
    received = [next(chunks) for _ in range(3)]
    response.close()  # what a WSGI server does when its write to the client fails
    assert received == [EVENT] * 3
    (line,) = logs.access()
    assert line["http"]["response"]["status_code"] == CLIENT_CLOSED_REQUEST
    assert line["http"]["response"]["body"]["bytes"] == 3 * len(EVENT)
    assert line["log"]["level"] == "warning"
    assert line["message"] == "GET /responses/sync-events/ 499"
    assert observed(STREAM, "responses/sync-events/", CLIENT_CLOSED_REQUEST)[0] == 1.0
    assert observed(STREAM, "responses/sync-events/", 200) == (None, None)
    # The response itself started with the view's status, and is counted so.
    assert observed(REQUEST, "responses/sync-events/", 200)[0] == 1.0


async def _serve_until_disconnect(path: str, events_before_leaving: int) -> list[dict[str, Any]]:
    """Django's ASGI handler serving ``path``; the client leaves after that many body chunks."""
    application = get_asgi_application()
    sent: list[dict[str, Any]] = []
    enough = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await enough.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        bodies = [m for m in sent if m["type"] == "http.response.body" and m.get("body")]
        if len(bodies) >= events_before_leaving:
            enough.set()

    scope = http_scope("GET", path)
    await asyncio.wait_for(application(scope, receive, send), timeout=30)
    return sent


@pytest.mark.django_db(transaction=True)
def test_an_async_stream_cancelled_by_a_disconnect_is_a_499(logs: CapturedLogs) -> None:
    sent = async_to_sync(_serve_until_disconnect)("/responses/events/", 3)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 200
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert body.startswith(EVENT * 3)
    (line,) = logs.access()
    assert line["http"]["response"]["status_code"] == CLIENT_CLOSED_REQUEST
    assert line["http"]["response"]["body"]["bytes"] == len(body)
    count, to_disconnect = observed(STREAM, "responses/events/", CLIENT_CLOSED_REQUEST)
    assert count == 1.0
    # The view pauses 10 ms between events: three events took at least two pauses, while the
    # response itself started at once.
    assert to_disconnect is not None
    assert to_disconnect >= 0.02
    assert to_disconnect > (observed(REQUEST, "responses/events/", 200)[1] or 0.0)


@pytest.mark.django_db
def test_a_stream_whose_iterator_raises_keeps_its_status_and_names_the_error(logs: CapturedLogs) -> None:
    response = Client().get("/responses/broken/")
    chunks = iter(response.streaming_content)  # type: ignore[attr-defined]
    assert next(chunks) == b"partial "
    with pytest.raises(StreamBrokenError):
        next(chunks)
    response.close()
    (line,) = logs.access()
    assert line["http"]["response"]["status_code"] == 200
    assert line["error"]["type"].endswith("StreamBrokenError")
    assert observed(STREAM, "responses/broken/", 200)[0] == 1.0
    assert observed(STREAM, "responses/broken/", CLIENT_CLOSED_REQUEST) == (None, None)
