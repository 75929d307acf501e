"""Start-up wiring, run from ``AppConfig.ready()`` and undone by :func:`stop` (tests).

Nothing here opens a socket or starts a thread: threads (span export, log shipping, metric
sampling) start lazily in each process on first use, so a forking server's workers each get
their own after fork.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType

from instrumentation import _imports, cache, celery, celery_worker, conf, db, tracing
from instrumentation import logging as fleet_logging
from instrumentation._safety import internal_error
from instrumentation.metrics import runtime


def start() -> None:
    settings = conf.get_settings()
    try:
        if settings.logging_configure:
            fleet_logging.configure()
    except Exception as exc:  # noqa: BLE001 - the app must start even if telemetry cannot
        internal_error(exc, "bootstrap.logging")
    try:
        db.instrument()
        cache.instrument()
        if settings.metrics_enabled:
            runtime.build_info(settings.service_name, settings.service_version)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "bootstrap.metrics")
    try:
        if settings.tracing_enabled:
            tracing.setup()
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "bootstrap.tracing")
    try:
        _instrument_celery()
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "bootstrap.celery")


def _instrument_celery() -> None:
    """Task spans and metrics once the application imports Celery: at once when it already has
    (Celery's Django guide imports the Celery app from the project package, before ``ready()``),
    otherwise on that import. A process that never uses Celery never pays for importing it."""
    if importlib.util.find_spec("celery") is None:
        return
    _imports.after_import("celery.signals", _connect_celery)


def _connect_celery(signals: ModuleType) -> None:
    celery.instrument()
    celery_worker.instrument()


def stop() -> None:
    """Flush and undo everything :func:`start` did."""
    tracing.shutdown()
    fleet_logging.shutdown()
    db.uninstrument()
    cache.uninstrument()
    _imports.cancel("celery.signals", _connect_celery)
    if importlib.util.find_spec("celery") is not None:
        celery.uninstrument()
        celery_worker.uninstrument()
