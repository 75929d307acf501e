"""Views answering with each kind of response body: files, streams (sync and async), server-sent
events that last until the client leaves, a stream that breaks, 304s."""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import etag

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILE = STATIC_DIR / "page.txt"
#: What the stream views send: text chunks (encoded by Django) and bytes.
CHUNKS = ("first chunk, ", b"second chunk, " * 50, "caf\u00e9 " * 300)
STREAM_BYTES = sum(len(chunk if isinstance(chunk, bytes) else chunk.encode()) for chunk in CHUNKS)
IN_MEMORY = b"0123456789" * 2_500


def file_response(request: HttpRequest) -> FileResponse:
    return FileResponse(STATIC_FILE.open("rb"))


def memory_file(request: HttpRequest) -> FileResponse:
    return FileResponse(io.BytesIO(IN_MEMORY), content_type="application/octet-stream")


def _chunks() -> Iterator[str | bytes]:
    yield from CHUNKS


async def _achunks() -> AsyncIterator[str | bytes]:
    for chunk in CHUNKS:
        yield chunk


def stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(_chunks(), content_type="text/plain")


async def astream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(_achunks(), content_type="text/plain")


#: What one server-sent event of :func:`events` and :func:`sync_events` looks like.
EVENT = b"data: tick\n\n"


async def _aevents() -> AsyncIterator[bytes]:
    while True:  # until the client goes away
        yield EVENT
        await asyncio.sleep(0.01)


def events(request: HttpRequest) -> StreamingHttpResponse:
    """Server-sent events from an async iterator, for as long as the client listens."""
    return StreamingHttpResponse(_aevents(), content_type="text/event-stream")


def sync_events(request: HttpRequest) -> StreamingHttpResponse:
    """Server-sent events from an endless sync iterator (a WSGI server closes it when the client leaves)."""
    return StreamingHttpResponse(itertools.repeat(EVENT), content_type="text/event-stream")


class StreamBrokenError(RuntimeError):
    """What :func:`broken_stream`'s iterator raises after its first chunk."""


def _broken() -> Iterator[bytes]:
    yield b"partial "
    raise StreamBrokenError("the data source went away")


def broken_stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(_broken(), content_type="text/plain")


@etag(lambda request: "v1")
def tagged(request: HttpRequest) -> HttpResponse:
    return HttpResponse("a body a conditional GET does not resend " * 10)
