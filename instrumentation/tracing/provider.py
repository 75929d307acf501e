"""Provider: turning the settings into the process's tracing state, once, and undoing it.

:func:`setup` builds one :class:`TracingState`:

* **Whose provider.** If the application already installed an SDK ``TracerProvider`` as the
  OpenTelemetry global, it is used as is (its sampler, processors and exporters); our spans are
  made through its tracer. Otherwise we build an SDK ``TracerProvider`` whose only processor is
  our :class:`~instrumentation.tracing.export.SpanBatcher`, install it as the global (so the
  outgoing-HTTP instrumentations and user code use it too) and make our own request, database
  and cache spans as :class:`~instrumentation.tracing.spans.FastSpan`\\s on the same queue.
* **Sampler, propagation, exporter** from :mod:`instrumentation.conf` (``FLEET_OBSERVABILITY``
  over the ``OTEL_*`` variables). The exporter is created on first export, in the process that
  exports. Without an endpoint nothing is recorded or exported, but sampling decisions are
  still made and propagated: trace ids reach logs, response headers, exemplars and callees.
* **Optional instrumentations**: requests, httpx and urllib3 through the OpenTelemetry contrib
  packages when they are installed (skipped quietly when not), template rendering when
  ``TRACE_TEMPLATES`` is on.

Nothing happens at import. :func:`setup` is idempotent and cheap (no thread, no socket), so it
may run in a preloading master. :func:`reset` restores the OpenTelemetry globals we changed, for
tests; :func:`shutdown` flushes (gunicorn ``worker_exit``, ``atexit``, Celery worker exit).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace import sampling as sdk_sampling
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from instrumentation import conf
from instrumentation.conf import Settings
from instrumentation.tracing import contrib
from instrumentation.tracing.export import BatchExporter, SdkExporter, SpanBatcher, create_exporter
from instrumentation.tracing.propagation import Extractor, extractor_for_environment
from instrumentation.tracing.resource import base_resource
from instrumentation.tracing.sampling import Decider, SamplerConfig, from_settings
from instrumentation.tracing.spans import FastSpan

logger = logging.getLogger("fleetobs.tracing")

SCOPE_NAME = "fleetobs"
SHUTDOWN_TIMEOUT = 5.0  # gunicorn's graceful timeout is often 10 s; never hold a worker longer


def _version() -> str:
    from instrumentation import __version__

    return __version__


@dataclasses.dataclass(eq=False)
class TracingState:
    """Everything the request path needs, resolved once."""

    settings: Settings
    sampler: SamplerConfig
    decider: Decider
    extract: Extractor
    header: str
    provider: TracerProvider
    #: Set when the spans go through someone else's SDK provider (the slower, general path).
    tracer: trace_api.Tracer | None
    batcher: SpanBatcher | None
    sink: Callable[[FastSpan], None]
    trace_db: bool
    trace_cache: bool
    #: False without an endpoint: sampled spans carry ids and flags but are not recorded.
    record: bool = True
    #: Paths (without the leading slash) never recorded: the probes and scrapes of
    #: ``METRICS_EXCLUDED_ROUTES`` (their trace context still flows).
    excluded_paths: frozenset[str] = frozenset()
    installed_global: bool = False
    instrumented: list[Any] = dataclasses.field(default_factory=list)

    @property
    def fast(self) -> bool:
        return self.tracer is None


_state: TracingState | None = None
_configured = False
_atexit_registered = False


def state() -> TracingState | None:
    return _state


def configured() -> bool:
    return _configured


def ensure() -> TracingState | None:
    """The state, set up from the settings on first use (Celery workers, lazy callers)."""
    if _state is None and not _configured:
        return setup()
    return _state


def _drop_sink(span: FastSpan) -> None:
    return None


def setup(
    settings: Settings | None = None,
    *,
    exporter: SpanExporter | None = None,
    synchronous: bool = False,
    exporter_factory: Callable[[], BatchExporter] | None = None,
) -> TracingState | None:
    """Configure tracing (idempotent). The keyword arguments are for tests and benchmarks."""
    global _state, _configured, _atexit_registered
    if _configured:
        return _state
    settings = settings or conf.get_settings()
    _configured = True
    if not settings.tracing_enabled:
        _state = None
        return None
    sampler = from_settings(settings.traces_sampler, settings.traces_sampler_arg)
    # Nowhere to send spans: decide and propagate as usual (ids for logs, exemplars, callees) but
    # record nothing, so no CPU is spent on spans that would be thrown away.
    record = exporter is not None or exporter_factory is not None or bool(settings.otlp_endpoint)
    current = trace_api.get_tracer_provider()
    tracer: trace_api.Tracer | None = None
    batcher: SpanBatcher | None = None
    installed = False
    if isinstance(current, TracerProvider):
        provider = current
        tracer = current.get_tracer(SCOPE_NAME, _version())
        sink: Callable[[FastSpan], None] = _drop_sink
    else:
        resource = base_resource(settings)
        scope = InstrumentationScope(SCOPE_NAME, _version())
        chosen = exporter

        def factory() -> BatchExporter:
            if exporter_factory is not None:
                return exporter_factory()
            return SdkExporter(chosen) if chosen is not None else create_exporter(settings)

        batcher = SpanBatcher(
            factory,
            resource,
            scope,
            max_queue_size=settings.span_queue_size,
            max_batch_size=settings.span_batch_size,
            schedule_delay=settings.span_schedule_delay,
            synchronous=synchronous,
        )
        sdk_sampler = sampler.sdk_sampler() if record else sdk_sampling.ALWAYS_OFF
        provider = TracerProvider(resource=resource, sampler=sdk_sampler, shutdown_on_exit=False)
        provider.add_span_processor(batcher)
        sink = batcher.enqueue
        if isinstance(current, trace_api.ProxyTracerProvider):
            trace_api.set_tracer_provider(provider)
            installed = True
    _state = TracingState(
        settings=settings,
        sampler=sampler,
        decider=Decider(sampler),
        extract=extractor_for_environment(),
        header=settings.trace_id_response_header or "",
        provider=provider,
        tracer=tracer,
        batcher=batcher,
        sink=sink,
        trace_db=settings.trace_db,
        trace_cache=settings.trace_cache,
        record=record,
        excluded_paths=frozenset(route.strip("/") for route in settings.metrics_excluded_routes),
        installed_global=installed,
    )
    _state.instrumented = contrib.instrument(provider, settings)
    if not _atexit_registered:
        atexit.register(shutdown)
        _atexit_registered = True
    return _state


def shutdown(timeout: float | None = None) -> None:
    """Flush queued spans and stop the export thread (worker exit). Safe to call twice."""
    st = _state
    if st is None or st.batcher is None:
        return
    limit = timeout if timeout is not None else min(SHUTDOWN_TIMEOUT, st.settings.span_export_timeout + 1.0)
    st.batcher.shutdown(limit)


def force_flush(timeout: float = 10.0) -> bool:
    """Export everything queued now (tests, or before a short-lived process exits)."""
    st = _state
    if st is None:
        return True
    if st.batcher is not None:
        return st.batcher.force_flush(int(timeout * 1000))
    return st.provider.force_flush(int(timeout * 1000))


def _restore_global_provider() -> None:
    """Undo ``set_tracer_provider`` (the API has no public way; tests need a clean slate)."""
    from opentelemetry.util._once import Once

    trace_api._TRACER_PROVIDER_SET_ONCE = Once()
    trace_api._TRACER_PROVIDER = None


def reset() -> None:
    """Forget all tracing state and restore the OpenTelemetry globals we installed."""
    global _state, _configured
    st = _state
    _state = None
    _configured = False
    if st is None:
        return
    contrib.uninstrument(st.instrumented)
    if st.batcher is not None:
        with contextlib.suppress(Exception):
            st.batcher.shutdown(1.0)
    if st.installed_global and trace_api.get_tracer_provider() is st.provider:
        _restore_global_provider()
