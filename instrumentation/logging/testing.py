"""Test helper: capture what the log pipeline writes, as parsed ECS objects.

::

    from instrumentation.logging.testing import capture_logs

    def test_checkout_logs_the_order(client):
        with capture_logs() as logs:
            client.post("/checkout/", {...})
        (line,) = logs.by_logger("shop.checkout")
        assert line["labels"]["order_id"] == 42
        (access,) = logs.access()
        assert access["http"]["response"]["status_code"] == 302

The pipeline is installed for the block (whatever ``LOGGING_CONFIGURE`` says) writing into
memory instead of standard output, and removed afterwards. :class:`CapturedLogs` reads what was
written so far, at any point inside the block or after it:

``stream``             the in-memory stream the pipeline writes to
``text``               everything, as one string
``raw_lines()``        every line as written (to check the exact bytes, e.g. that no secret or
                       control character reached them)
``lines()``            every line, parsed
``by_logger(name)``    the parsed lines of one logger
``access()``           the access lines (logger ``fleetobs.access``), one per request
``clear()``            forget what was written so far, to look at one step of a longer test alone
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from typing import Any

from instrumentation.logging import pipeline

__all__ = ["CapturedLogs", "capture_logs"]


class CapturedLogs:
    """The lines written while capturing."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def stream(self) -> io.StringIO:
        """The in-memory stream the pipeline writes to: give it to anything else that should
        write into the capture (a handler of your own, ``pipeline.configure(stream=...)``)."""
        return self._stream

    @property
    def text(self) -> str:
        """Everything written, as text."""
        return self._stream.getvalue()

    def raw_lines(self) -> list[str]:
        """Every line as written, unparsed."""
        return self.text.splitlines()

    def lines(self) -> list[dict[str, Any]]:
        """Every line, parsed (the pipeline writes one JSON object per line)."""
        return [json.loads(line) for line in self.raw_lines()]

    def by_logger(self, name: str) -> list[dict[str, Any]]:
        """The lines of one logger, e.g. ``fleetobs.access``."""
        return [line for line in self.lines() if line.get("log", {}).get("logger") == name]

    def access(self) -> list[dict[str, Any]]:
        """The access lines, one per request the middleware saw."""
        return self.by_logger(pipeline.ACCESS_LOGGER)

    def clear(self) -> None:
        """Forget every line written so far; later lines are captured as before."""
        self._stream.seek(0)
        self._stream.truncate()


@contextlib.contextmanager
def capture_logs() -> Iterator[CapturedLogs]:
    """Install the pipeline writing into memory for the duration of the block."""
    stream = io.StringIO()
    pipeline.configure(stream=stream)
    try:
        yield CapturedLogs(stream)
    finally:
        pipeline.reset()
