"""What must happen around ``django.setup()`` for a configuration (the anchors' own steps)."""

from __future__ import annotations

import os
from typing import Any

from benchmarks import sinks
from benchmarks.configs import Config

_state: dict[str, object] = {}


def before_django(config: Config) -> None:
    if "otel" in config.anchors:
        # https://opentelemetry-python-contrib.readthedocs.io/en/latest/instrumentation/django/django.html
        from opentelemetry import trace
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        exporter = _anchor_exporter(config)
        provider = TracerProvider(resource=Resource.create({"service.name": config.name}))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _state["otel_provider"] = provider
        DjangoInstrumentor().instrument()
    if "otel-db" in config.anchors:
        # https://opentelemetry-python-contrib.readthedocs.io/en/latest/instrumentation/sqlite3/sqlite3.html
        from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

        SQLite3Instrumentor().instrument()
    if "structlog" in config.anchors:
        # https://django-structlog.readthedocs.io/en/latest/getting_started.html
        import structlog

        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.filter_by_level,
                structlog.processors.TimeStamper(fmt="iso"),
                structlog.stdlib.add_logger_name,
                structlog.stdlib.add_log_level,
                structlog.stdlib.PositionalArgumentsFormatter(),
                structlog.processors.StackInfoRenderer(),
                structlog.processors.format_exc_info,
                structlog.processors.UnicodeDecoder(),
                structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            cache_logger_on_first_use=True,
        )


def _anchor_exporter(config: Config) -> Any:
    """The SDK exporter the anchor's users configure: OTLP over HTTP or gRPC (or the sink)."""
    if config.export == "http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=os.environ["FLEETOBS_BENCH_OTLP_HTTP"])
    if config.export == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=os.environ["FLEETOBS_BENCH_OTLP_GRPC"], insecure=True)
    exporter = sinks.EncodingDiscardExporter()
    sinks.installed["anchor"] = exporter
    return exporter


def after_django(config: Config) -> None:
    if config.tracing and config.export == "sink":
        _state["ours_sink"] = sinks.install_ours()


def sink_description(config: Config) -> str:
    if config.export != "sink" and (config.tracing or "otel" in config.anchors):
        protocol = "OTLP/HTTP" if config.export == "http" else "OTLP/gRPC"
        return f"{protocol} to a receiver in another process"
    if config.tracing:
        return str(_state.get("ours_sink", ""))
    if "otel" in config.anchors:
        return "BatchSpanProcessor -> SDK exporter, OTLP encoded, discarded"
    return ""


def received_spans(config: Config) -> dict[str, int]:
    """What the receiver counted for this configuration (real export only)."""
    if config.export == "sink":
        return {}
    from benchmarks.receiver import fetch_stats

    endpoint = os.environ["FLEETOBS_BENCH_OTLP_HTTP"]
    counts = fetch_stats(endpoint.replace("/v1/traces", "/stats"))
    return counts.get(f"{config.export}:{config.name}", {})


def flush_spans(config: Config) -> None:
    """Export every span ended so far (so a timed run pays for all its export work)."""
    if config.tracing:
        from instrumentation import tracing

        tracing.force_flush(10.0)
    provider = _state.get("otel_provider")
    if provider is not None:
        provider.force_flush(10_000)  # type: ignore[attr-defined]
