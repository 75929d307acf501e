"""Views answering with each kind of response body: files, streams (sync and async), 304s."""

from __future__ import annotations

import io
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


@etag(lambda request: "v1")
def tagged(request: HttpRequest) -> HttpResponse:
    return HttpResponse("a body a conditional GET does not resend " * 10)
