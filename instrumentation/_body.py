"""Response body sizes: the bytes the server sends, for every kind of response.

A response to ``HEAD``, and a 1xx, 204 or 304 response, sends no body: its size is 0 whatever
the response object holds (servers drop it). An ordinary response's size is known when the view
returns (``len(response.content)``). A streamed one (``StreamingHttpResponse``, ``FileResponse``,
``django.views.static.serve``) is only known once the server has consumed it, so
:class:`BodyMeter` wraps the response's iterator, sync or async, and counts each chunk as the
server takes it (nothing is buffered). It reports the total once, to the ``done`` callback: when
the last chunk has been taken, or when the server closes the response (a client that went away,
an iterator that raised), whichever comes first.

How the body ended is reported with it (:class:`Outcome`). The body is ``complete`` when the
iterator was exhausted (or the server sent the file itself). It is ``disconnected`` when the
server closed the response before the iterator was exhausted: a WSGI server whose write to the
client failed calls ``close()`` early, and Django's ASGI handler, on ``http.disconnect``, cancels
the task sending the body (``asyncio.CancelledError`` raised in the async iterator, or at the
``send`` it awaits) and then closes the response. It is ``failed`` when the application's
iterator raised: the server's error, not the client's.

A WSGI server with ``wsgi.file_wrapper`` (gunicorn, ``runserver``) sends a ``FileResponse``'s
file itself, with ``sendfile`` where it can, without taking a chunk from the iterator: the body
is then counted as the response's ``Content-Length`` when the server closes it.

Django keeps a streamed body in ``response._iterator`` and the callbacks ``close()`` runs in
``response._resource_closers``; the meter swaps the first and appends to the second, rather than
setting ``streaming_content``, which would turn off the server's ``sendfile`` for files.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Literal

from instrumentation._safety import internal_error

_NO_BODY = frozenset({204, 304})

#: How a streamed body ended: sent to its end, cut short by the client, or by the iterator raising.
Outcome = Literal["complete", "disconnected", "failed"]
#: ``done(sent bytes, outcome, the iterator's exception or None)``.
Done = Callable[[int, Outcome, BaseException | None], None]


def no_body(method: str, status: int) -> bool:
    """True when the server sends no body, whatever the response holds (RFC 9110)."""
    return method == "HEAD" or status < 200 or status in _NO_BODY


class BodyMeter:
    """Counts a streamed response's body as it is sent; reports the total once to ``done``."""

    __slots__ = ("_declared", "_done", "error", "exhausted", "sent", "started")

    def __init__(self, done: Done, declared: int | None) -> None:
        self.sent = 0
        self.started = False
        self.exhausted = False
        self.error: BaseException | None = None
        self._done: Done | None = done
        #: Content-Length of a file the server may send itself (``wsgi.file_wrapper``).
        self._declared = declared

    def finish(self) -> None:
        """Report the total (once): at the last chunk, or when the response is closed."""
        done = self._done
        if done is None:
            return
        self._done = None
        sent = self.sent
        outcome: Outcome
        if self.error is not None:
            outcome = "failed"
        elif self.exhausted:
            outcome = "complete"
        elif not self.started and self._declared is not None:
            sent = self._declared  # the server sent the file without our iterator
            outcome = "complete"
        else:
            outcome = "disconnected"  # closed before the last chunk was taken
        try:
            done(sent, outcome, self.error)
        except Exception as exc:  # noqa: BLE001 - runs inside the server's close()
            internal_error(exc, "body.finish")

    def _count(self, chunks: Iterator[Any], make_bytes: Callable[[Any], bytes]) -> Iterator[bytes]:
        self.started = True
        try:
            for chunk in chunks:
                data = make_bytes(chunk)
                self.sent += len(data)
                yield data
        except Exception as exc:
            self.error = exc
            raise
        self.exhausted = True
        self.finish()

    async def _acount(
        self, chunks: AsyncIterator[Any], make_bytes: Callable[[Any], bytes]
    ) -> AsyncIterator[bytes]:
        self.started = True
        try:
            async for chunk in chunks:
                data = make_bytes(chunk)
                self.sent += len(data)
                yield data
        except asyncio.CancelledError:
            self.finish()  # the client went away: the handler cancelled the task sending the body
            raise
        except Exception as exc:
            self.error = exc
            raise
        self.exhausted = True
        self.finish()


def meter(request: Any, response: Any, done: Done) -> BodyMeter | None:
    """Count ``response``'s streamed body as it is sent; ``None`` if it cannot be wrapped."""
    chunks = getattr(response, "_iterator", None)
    closers = getattr(response, "_resource_closers", None)
    if chunks is None or not isinstance(closers, list):
        return None
    declared = None
    if getattr(response, "file_to_stream", None) is not None and request.META.get("wsgi.file_wrapper"):
        length = response.get("Content-Length")
        declared = int(length) if length is not None and str(length).isdigit() else None
    body = BodyMeter(done, declared)
    if response.is_async:
        response._iterator = body._acount(chunks, response.make_bytes)
    else:
        response._iterator = body._count(chunks, response.make_bytes)
    closers.append(body.finish)
    return body
