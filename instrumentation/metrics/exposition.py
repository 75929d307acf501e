"""Rendering ``/metrics``: Prometheus text by default, OpenMetrics (with exemplars) when asked."""

from __future__ import annotations

from prometheus_client.exposition import choose_encoder

from instrumentation.metrics.registry import collector_registry


def render(accept: str) -> tuple[bytes, str]:
    """Return the exposition body and its content type for an ``Accept`` header."""
    encoder, content_type = choose_encoder(accept)
    return encoder(collector_registry()), content_type
