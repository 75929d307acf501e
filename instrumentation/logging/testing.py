"""Test helper: capture what the log pipeline writes, as parsed ECS objects.

::

    from instrumentation.logging.testing import capture_logs

    def test_checkout_logs_the_order(client):
        with capture_logs() as logs:
            client.post("/checkout/", {...})
        (line,) = [l for l in logs.lines() if l["log"]["logger"] == "shop.checkout"]
        assert line["labels"]["order_id"] == 42

The pipeline is installed for the block (whatever ``LOGGING_CONFIGURE`` says) writing into
memory instead of standard output, and removed afterwards.
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
    def text(self) -> str:
        """Everything written, as text."""
        return self._stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        """Every line, parsed (the pipeline writes one JSON object per line)."""
        return [json.loads(line) for line in self.text.splitlines()]

    def by_logger(self, name: str) -> list[dict[str, Any]]:
        """The lines of one logger, e.g. ``fleetobs.access``."""
        return [line for line in self.lines() if line.get("log", {}).get("logger") == name]


@contextlib.contextmanager
def capture_logs() -> Iterator[CapturedLogs]:
    """Install the pipeline writing into memory for the duration of the block."""
    stream = io.StringIO()
    pipeline.configure(stream=stream)
    try:
        yield CapturedLogs(stream)
    finally:
        pipeline.reset()
