"""Response body sizes for every kind of response, in the access line and the size histogram.

Streamed and file bodies are counted as the server consumes them (the test client consumes them
as a WSGI or ASGI server would, and closes the response after the last chunk); HEAD requests
and 304s send no body. Each request gives one access line and one size observation.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.http import HttpResponseBase
from django.test import AsyncClient, Client

from instrumentation.logging.testing import CapturedLogs
from instrumentation.testing import get_sample_value
from tests.project.views_responses import IN_MEMORY, STATIC_FILE, STREAM_BYTES

SIZE = "http_server_response_body_size_bytes"
STATIC_ROUTE = "^static/(?P<path>.*)$"


def body(response: HttpResponseBase) -> bytes:
    """What a server would send: a streamed body is consumed (and the response closed after it)."""
    if response.streaming:
        return b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return bytes(response.content)  # type: ignore[attr-defined]


def sizes(route: str, method: str = "GET") -> tuple[float | None, float | None]:
    labels = {"http_request_method": method, "http_route": route}
    return get_sample_value(f"{SIZE}_count", labels), get_sample_value(f"{SIZE}_sum", labels)


def sent_bytes(line: dict[str, Any]) -> Any:
    return line["http"]["response"].get("body", {}).get("bytes")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "headers", "route", "status", "expected"),
    [
        ("GET", "/static/page.txt", {}, STATIC_ROUTE, 200, STATIC_FILE.stat().st_size),
        ("GET", "/responses/file/", {}, "responses/file/", 200, STATIC_FILE.stat().st_size),
        ("GET", "/responses/memory-file/", {}, "responses/memory-file/", 200, len(IN_MEMORY)),
        ("GET", "/responses/stream/", {}, "responses/stream/", 200, STREAM_BYTES),
        ("GET", "/ok/", {}, "ok/", 200, 2),
        ("HEAD", "/ok/", {}, "ok/", 200, 0),
        ("HEAD", "/static/page.txt", {}, STATIC_ROUTE, 200, 0),
        ("HEAD", "/responses/stream/", {}, "responses/stream/", 200, 0),
        ("GET", "/responses/tagged/", {"HTTP_IF_NONE_MATCH": '"v1"'}, "responses/tagged/", 304, 0),
    ],
)
def test_every_response_kind_is_measured_once(
    logs: CapturedLogs,
    method: str,
    path: str,
    headers: dict[str, str],
    route: str,
    status: int,
    expected: int,
) -> None:
    response = Client().generic(method, path, **headers)
    assert response.status_code == status
    assert len(body(response)) == expected
    (line,) = logs.access()
    assert line["http"]["route"] == route
    assert sent_bytes(line) == expected
    assert sizes(route, method) == (1.0, float(expected))


@pytest.mark.django_db(transaction=True)
def test_an_async_stream_is_measured_once(logs: CapturedLogs) -> None:
    async def fetch() -> bytes:
        response = await AsyncClient().get("/responses/astream/")
        return b"".join([chunk async for chunk in response.streaming_content])

    assert len(async_to_sync(fetch)()) == STREAM_BYTES
    (line,) = logs.access()
    assert sent_bytes(line) == STREAM_BYTES
    assert sizes("responses/astream/") == (1.0, float(STREAM_BYTES))


@pytest.mark.django_db
def test_the_access_line_of_a_stream_waits_for_its_last_byte(logs: CapturedLogs) -> None:
    response = Client().get("/responses/stream/")
    assert logs.access() == []
    assert not sizes("responses/stream/")[0]
    body(response)
    assert len(logs.access()) == 1
    assert sizes("responses/stream/") == (1.0, float(STREAM_BYTES))


@pytest.mark.django_db
def test_a_stream_closed_early_counts_what_was_sent(logs: CapturedLogs) -> None:
    response = Client().get("/responses/file/")
    first = next(iter(response.streaming_content))
    response.close()
    response.close()
    (line,) = logs.access()
    assert sent_bytes(line) == len(first) < STATIC_FILE.stat().st_size
    assert sizes("responses/file/") == (1.0, float(len(first)))
