"""Prometheus metrics, registered from the signal catalogue.

Layout:

``registry``      creates the prometheus_client objects declared in the catalogue, once, lazily
                  (so the multiprocess directory chosen by the gunicorn hooks is honoured).
``http``          the request hot path: cached label children, exemplars.
``exemplars``     the per-worker exemplar side-channel that multiprocess mode lacks.
``multiprocess``  the scrape-side collector (live workers + merged dead workers, exemplars) and
                  ``mark_process_dead``, which folds a dead worker's files into one.
``runtime``       process, GC and worker-capacity gauges, sampled in each worker.
``exposition``    content negotiation and rendering for ``/metrics``.

Nothing here raises into a request: the middleware calls these through its error boundary.
With ``METRICS_ENABLED`` off (:func:`enabled`), nothing in the instrumentation records a metric:
HTTP, runtime, database, cache, task and telemetry-pipeline metrics alike.
"""

from collections.abc import Mapping, Sequence

from instrumentation import _safety, conf
from instrumentation.metrics.registry import collector_registry, get, is_multiprocess, reset

__all__ = ["collector_registry", "count", "enabled", "get", "is_multiprocess", "reset"]


def enabled() -> bool:
    """Whether the instrumentation records metrics (the ``METRICS_ENABLED`` setting)."""
    return conf.get_settings().metrics_enabled


def count(name: str, labels: Sequence[str] | Mapping[str, str], amount: float = 1) -> None:
    """Add ``amount`` to counter ``name``'s child for ``labels`` (values in order, or by name),
    when metrics are on. For the telemetry pipelines' own bookkeeping, on their threads: a
    missing or broken metrics backend loses the count and never raises."""
    try:
        if enabled():
            metric = get(name)
            child = metric.labels(**labels) if isinstance(labels, Mapping) else metric.labels(*labels)
            child.inc(amount)
    except Exception:  # noqa: BLE001, S110 - metrics trouble must not stop a pipeline
        pass


def _count_internal_error(where: str) -> None:
    count("fleetobs_internal_errors", (where,))


_safety.count_with(_count_internal_error)
