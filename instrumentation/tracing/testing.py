"""Test helpers: capture the spans a piece of code produces, synchronously, in memory.

::

    from instrumentation.tracing.testing import capture_spans

    def test_checkout_is_traced(client):
        with capture_spans() as spans:
            client.get("/checkout/")
        (server,) = [s for s in spans.get_finished_spans() if s.kind.name == "SERVER"]
        assert server.name == "GET checkout/"

Tracing is switched on for the block whatever the settings say (other settings are kept, and
``overrides`` replaces some of them), every span is exported as it ends, and the previous
tracing state is restored afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentation import conf
from instrumentation.tracing import provider


@contextlib.contextmanager
def capture_spans(**overrides: Any) -> Iterator[InMemorySpanExporter]:
    """Trace with an in-memory exporter; ``overrides`` are :class:`~instrumentation.conf.Settings` fields."""
    provider.reset()
    settings = dataclasses.replace(conf.get_settings(), tracing_enabled=True, **overrides)
    exporter = InMemorySpanExporter()
    provider.setup(settings, exporter=exporter, synchronous=True)
    try:
        yield exporter
    finally:
        provider.reset()
