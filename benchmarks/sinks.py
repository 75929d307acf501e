"""In-process sinks: exporters that do all their usual work except the network send.

Only instrumentation is measured, so no collector runs; but a span is only paid for once it is
encoded, so the sinks still encode every batch as OTLP protobuf and then drop the bytes:

* :class:`NullOtlpSender` replaces this project's OTLP/HTTP transport: our exporter encodes the
  ``ExportTraceServiceRequest`` exactly as in production and hands it to the sender, which
  counts it and discards it.
* :class:`EncodingDiscardExporter` is an SDK ``SpanExporter`` for the anchor stack: it encodes
  the batch with the OTLP exporter's own encoder and discards it.

Both count what they received, so a benchmark run can show its spans really were exported.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class NullOtlpSender:
    """Stands in for ``OtlpHttpSender``: accepts an encoded request, returns an empty answer."""

    endpoint = "in-process://discard"

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        self._lock = threading.Lock()

    def send(self, payload: bytes) -> bytes:
        with self._lock:
            self.requests += 1
            self.bytes += len(payload)
        return b""

    def close(self) -> None:
        return None


class EncodingDiscardExporter(SpanExporter):
    """An SDK exporter that encodes spans as the OTLP exporter does, then drops them."""

    def __init__(self) -> None:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        self._encode = encode_spans
        self.spans = 0
        self.bytes = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.bytes += len(self._encode(spans).SerializeToString())
        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


#: The sinks of this process, for the counts (set by :mod:`benchmarks.project.wiring`).
installed: dict[str, Any] = {}


def install_ours() -> str:
    """Make this project's span exporter encode into :class:`NullOtlpSender` (before any export).

    Returns how the sink was installed, for the results.
    """
    from instrumentation.tracing import export, provider

    sender = NullOtlpSender()
    installed["ours"] = sender
    for name in ("create_exporters", "create_exporter"):
        if hasattr(export, "OtlpHttpExporter") and hasattr(provider, name):
            # The exporter is created lazily, on the first export, through this name.
            setattr(provider, name, lambda settings: export.OtlpHttpExporter(sender))
            return "our OTLP/HTTP exporter, protobuf encoded, send discarded"
    # Fallback: the documented exporter hook of setup(), with an SDK exporter.
    exporter = EncodingDiscardExporter()
    installed["ours"] = exporter
    provider.reset()
    provider.setup(exporter=exporter)
    return "SDK exporter hook, OTLP encoded, discarded"


def exported(kind: str) -> dict[str, int]:
    sink = installed.get(kind)
    if sink is None:
        return {}
    if isinstance(sink, NullOtlpSender):
        return {"export_calls": sink.requests, "bytes": sink.bytes}
    return {"spans": sink.spans, "bytes": sink.bytes}
