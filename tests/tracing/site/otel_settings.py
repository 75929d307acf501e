"""The tracing test site as a team running ``opentelemetry-instrument`` has it: plus its own
span processor on the global provider (added when Django loads the settings, which the
Django instrumentation does at start-up, after the SDK was configured from ``OTEL_*``).

The processor appends ``<trace id> <span id> <kind>`` to ``TRACING_SITE_PROCESSOR_LOG`` for
every span that ends, whichever process ends it, so the test can check it saw every span the
receiver got.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from tests.tracing.site.settings import *  # noqa: F403 - the site's settings, plus the processor


class _AppendToFile(SpanProcessor):
    def __init__(self, path: str) -> None:
        self.path = path

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None:
            return
        line = f"{context.trace_id:032x} {context.span_id:016x} {span.kind.name}\n".encode()
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)


_log = os.environ.get("TRACING_SITE_PROCESSOR_LOG")
_provider = trace.get_tracer_provider()
if _log and hasattr(_provider, "add_span_processor") and not getattr(_provider, "_site_processor", False):
    _provider.add_span_processor(_AppendToFile(_log))
    _provider._site_processor = True  # type: ignore[attr-defined]  # settings may be imported twice
