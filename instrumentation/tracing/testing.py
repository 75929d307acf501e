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

``discarding_export()`` is for benchmarks: spans take the production path (bounded queue, export
thread, OTLP protobuf encoding) and the encoded requests are counted and thrown away instead of
being sent.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentation import conf
from instrumentation.tracing import provider
from instrumentation.tracing.export import OtlpHttpExporter


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


class DiscardingSender:
    """Stands in for the HTTP transport: counts the encoded export requests, sends nothing."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0

    def send(self, body: bytes) -> bytes:
        self.requests += 1
        self.bytes += len(body)
        return b""

    def close(self) -> None:
        return None


@contextlib.contextmanager
def discarding_export(**overrides: Any) -> Iterator[DiscardingSender]:
    """Trace as in production, but discard the encoded OTLP requests (benchmarks)."""
    provider.reset()
    settings = dataclasses.replace(conf.get_settings(), tracing_enabled=True, **overrides)
    sender = DiscardingSender()
    provider.setup(settings, exporter_factory=lambda: OtlpHttpExporter(sender))
    try:
        yield sender
    finally:
        provider.reset()
