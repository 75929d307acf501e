"""Provider: turning the settings into the process's tracing state, once, and undoing it.

:func:`setup` builds one :class:`TracingState`:

* **Whose provider.** If the application already installed an SDK ``TracerProvider`` as the
  OpenTelemetry global (``opentelemetry-instrument`` does), it is used as is (its sampler,
  processors and exporters); our spans are made through its tracer. Otherwise we build a
  :class:`FleetTracerProvider` whose only processor is our
  :class:`~instrumentation.tracing.export.SpanBatcher`, install it as the global (so the
  outgoing-HTTP instrumentations and user code use it too) and make our own request, database
  and cache spans as :class:`~instrumentation.tracing.spans.FastSpan`\\s on the same queue.
* **A team's own span processors.** ``trace.get_tracer_provider().add_span_processor(p)`` on
  the provider we installed switches every later span to the SDK path, so ``p.on_start`` and
  ``p.on_end`` see the request, database and cache spans too (the lean path, which skips
  processors, is kept only while ours is the sole processor). Without an OTLP endpoint such a
  processor still gets sampled spans: it may be the team's exporter.
* **Sampler, propagation, exporter** from :mod:`instrumentation.conf` (``FLEET_OBSERVABILITY``
  over the ``OTEL_*`` variables). The exporter is created on first export, in the process that
  exports; ``TRACES_EXPORTER`` (``OTEL_TRACES_EXPORTER``) picks ``otlp``, ``console``, both,
  or ``none``. Without an endpoint (or with ``none``) nothing is recorded or exported, but
  sampling decisions are still made and propagated: trace ids reach logs, response headers,
  exemplars and callees.
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
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import sampling as sdk_sampling
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from instrumentation import __version__, conf
from instrumentation.conf import Settings
from instrumentation.lifecycle import on_reset
from instrumentation.tracing import contrib, otlp
from instrumentation.tracing.export import (
    BatchExporter,
    SdkExporter,
    SpanBatcher,
    create_exporters,
    exporter_names,
)
from instrumentation.tracing.propagation import Extractor, extractor_for_environment
from instrumentation.tracing.resource import base_resource
from instrumentation.tracing.sampling import Decider, SamplerConfig, from_settings
from instrumentation.tracing.spans import FastSpan, configure_limits
from instrumentation.tracing.trust import Untrusted, untrusted_check

logger = logging.getLogger("fleetobs.tracing")

SCOPE_NAME = "fleetobs"
SHUTDOWN_TIMEOUT = 5.0  # gunicorn's graceful timeout is often 10 s; never hold a worker longer


def _version() -> str:
    return __version__


class _SwitchableSampler(sdk_sampling.Sampler):
    """Delegates to a sampler that can be replaced later (tracers keep the sampler they got)."""

    def __init__(self, delegate: sdk_sampling.Sampler) -> None:
        self.delegate = delegate

    def should_sample(self, *args: Any, **kwargs: Any) -> sdk_sampling.SamplingResult:
        return self.delegate.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return self.delegate.get_description()


class FleetTracerProvider(TracerProvider):
    """The SDK provider this project installs when the application has none; it notices a
    team's own span processor being added and routes every later span through it."""

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        st = _state
        if st is not None and st.provider is self and span_processor is not st.batcher:
            _processor_added(st)


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
    #: The SDK form of ``sampler`` (swapped in when a team's processor is added without an endpoint).
    switchable: _SwitchableSampler | None = None
    #: ``TRACE_PARENT_TRUST='trusted'``: which callers' sampled flag is replaced (see ``trust``).
    untrusted: Untrusted | None = None
    #: Set by :func:`shutdown`: a second call (``atexit`` after ``worker_exit``) does nothing.
    shut_down: bool = False

    @property
    def fast(self) -> bool:
        return self.tracer is None


_state: TracingState | None = None
_configured = False


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


def _processor_added(st: TracingState) -> None:
    """A processor other than ours joined our provider: make spans through the SDK from now on."""
    if st.switchable is not None:
        st.switchable.delegate = st.sampler.sdk_sampler()
    if st.tracer is None:
        st.tracer = st.provider.get_tracer(SCOPE_NAME, _version())


def setup(
    settings: Settings | None = None,
    *,
    exporter: SpanExporter | None = None,
    synchronous: bool = False,
    exporter_factory: Callable[[], BatchExporter] | None = None,
) -> TracingState | None:
    """Configure tracing (idempotent). The keyword arguments are for tests and benchmarks."""
    global _state, _configured
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
    # OTEL_TRACES_EXPORTER=none (or otlp without an endpoint) exports nothing, console prints.
    names = exporter_names(settings)
    record = (
        exporter is not None
        or exporter_factory is not None
        or ("otlp" in names and bool(settings.otlp_endpoint))
        or "console" in names
    )
    current = trace_api.get_tracer_provider()
    tracer: trace_api.Tracer | None = None
    batcher: SpanBatcher | None = None
    switchable: _SwitchableSampler | None = None
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
            return SdkExporter(chosen) if chosen is not None else create_exporters(settings)

        batcher = SpanBatcher(
            factory,
            resource,
            scope,
            max_queue_size=settings.span_queue_size,
            max_batch_size=settings.span_batch_size,
            schedule_delay=settings.span_schedule_delay,
            synchronous=synchronous,
        )
        switchable = _SwitchableSampler(sampler.sdk_sampler() if record else sdk_sampling.ALWAYS_OFF)
        # SpanLimits() reads the OTEL_*_LIMIT variables; our own spans follow the same limits.
        limits = SpanLimits()
        configure_limits(limits)
        otlp.clear_caches()
        provider = FleetTracerProvider(
            resource=resource, sampler=switchable, span_limits=limits, shutdown_on_exit=False
        )
        if record:
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
        switchable=switchable,
        untrusted=untrusted_check(settings),
    )
    _state.instrumented = contrib.instrument(provider, settings)
    return _state


def shutdown(timeout: float | None = None) -> None:
    """Flush queued spans and stop the export thread (worker exit). Safe to call twice."""
    st = _state
    if st is None:
        return
    if st.shut_down:  # worker_exit did it; atexit must not wait on a dead collector again
        return
    st.shut_down = True
    limit = timeout if timeout is not None else min(SHUTDOWN_TIMEOUT, st.settings.span_export_timeout + 1.0)
    deadline = time.monotonic() + limit  # one bound for both steps below
    if st.batcher is not None:
        st.batcher.shutdown(limit)
    if st.batcher is None or not st.fast:
        # The application's provider, or ours with a team's processors: flush (not shut down:
        # it may not be ours) what they hold, so a worker's last spans are not lost.
        remaining = deadline - time.monotonic()
        if remaining > 0:
            st.provider.force_flush(int(remaining * 1000))


atexit.register(shutdown)  # a no-op unless tracing was configured


def force_flush(timeout: float = 10.0) -> bool:
    """Export everything queued now (tests, or before a short-lived process exits)."""
    st = _state
    if st is None:
        return True
    if st.batcher is not None and st.fast:
        return st.batcher.force_flush(int(timeout * 1000))
    return st.provider.force_flush(int(timeout * 1000))


def _restore_global_provider() -> None:
    """Undo ``set_tracer_provider`` (the API has no public way; tests need a clean slate)."""
    from opentelemetry.util._once import Once

    trace_api._TRACER_PROVIDER_SET_ONCE = Once()
    trace_api._TRACER_PROVIDER = None


@on_reset
def reset() -> None:
    """Forget all tracing state and restore the OpenTelemetry globals we installed."""
    global _state, _configured
    st = _state
    _state = None
    _configured = False
    configure_limits(None)
    otlp.clear_caches()
    if st is None:
        return
    contrib.uninstrument(st.instrumented)
    if st.batcher is not None:
        with contextlib.suppress(Exception):
            st.batcher.shutdown(1.0)
    if st.installed_global and trace_api.get_tracer_provider() is st.provider:
        _restore_global_provider()
