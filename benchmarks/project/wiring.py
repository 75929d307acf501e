"""What must happen around ``django.setup()`` for a configuration (the anchors' own steps)."""

from __future__ import annotations

from benchmarks import sinks
from benchmarks.configs import Config

_state: dict[str, object] = {}


def before_django(config: Config) -> None:
    if "otel" in config.anchors:
        # https://opentelemetry-python-contrib.readthedocs.io/en/latest/instrumentation/django/django.html
        from opentelemetry import trace
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        exporter = sinks.EncodingDiscardExporter()
        sinks.installed["anchor"] = exporter
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _state["otel_provider"] = provider
        DjangoInstrumentor().instrument()
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


def after_django(config: Config) -> None:
    if config.tracing:
        _state["ours_sink"] = sinks.install_ours()


def sink_description(config: Config) -> str:
    if config.tracing:
        return str(_state.get("ours_sink", ""))
    if "otel" in config.anchors:
        return "BatchSpanProcessor -> SDK exporter, OTLP encoded, discarded"
    return ""


def flush_spans(config: Config) -> None:
    """Export every span ended so far (so a timed run pays for all its export work)."""
    if config.tracing:
        from instrumentation import tracing

        tracing.force_flush(10.0)
    provider = _state.get("otel_provider")
    if provider is not None:
        provider.force_flush(10_000)  # type: ignore[attr-defined]
