"""Fixtures for the tracing tests: a clean tracing state, captured spans, a live receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentation import tracing
from instrumentation.tracing.testing import capture_spans
from tests.tracing.receiver import OtlpReceiver


@pytest.fixture(autouse=True)
def _clean_tracing() -> Iterator[None]:
    tracing.reset()
    yield
    tracing.reset()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span the test makes, exported synchronously to memory (tracing forced on)."""
    with capture_spans() as exporter:
        yield exporter


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running
