"""Metrics of Celery workers: a ``/metrics`` port in the worker's main process.

A Celery worker serves no HTTP, so its task metrics would never be scraped. When
``FLEETOBS_METRICS_PORT`` is set in a worker's environment, the main process (``worker_init``)
prepares a multiprocess directory, as the gunicorn hooks do, and serves every pool process's
values on that port; each pool process folds its own files into the merged ones when it shuts
down, so restarts of pool processes neither lose counts nor pile up files.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any

from instrumentation._process import MULTIPROCESS_DIR_ENV, multiprocess_dir
from instrumentation._safety import internal_error
from instrumentation.lifecycle import on_reset
from instrumentation.metrics import multiprocess, registry

_connected = False
_server: Any = None  # the metrics port's server, in a worker's main process


def _on_worker_init(**kwargs: Any) -> None:
    global _server
    port = os.environ.get("FLEETOBS_METRICS_PORT")
    if not port:
        return
    try:
        from prometheus_client import CollectorRegistry, start_http_server

        if not multiprocess_dir():
            os.environ[MULTIPROCESS_DIR_ENV] = tempfile.mkdtemp(prefix="fleetobs-worker-metrics-")
        multiprocess.clear_directory()
        registry.reset()  # metric objects built before now used in-memory storage
        served = CollectorRegistry()
        served.register(multiprocess.FleetCollector())
        address = os.environ.get("FLEETOBS_METRICS_ADDRESS", "0.0.0.0")  # noqa: S104 - scraped from outside
        _server = start_http_server(int(port), addr=address, registry=served)
    except Exception as exc:  # noqa: BLE001 - a worker must start even without its metrics port
        internal_error(exc, "celery_worker.serve")


def _on_process_shutdown(**kwargs: Any) -> None:
    if not multiprocess_dir() or not os.environ.get("FLEETOBS_METRICS_PORT"):
        return

    with contextlib.suppress(Exception):
        multiprocess.mark_process_dead(os.getpid())


def instrument() -> bool:
    """Connect to Celery's worker signals; ``False`` when Celery is not installed."""
    global _connected
    if _connected:
        return True
    try:
        from celery import signals
    except ImportError:
        return False
    signals.worker_init.connect(_on_worker_init, weak=False, dispatch_uid="fleetobs-worker-init")
    signals.worker_process_shutdown.connect(
        _on_process_shutdown, weak=False, dispatch_uid="fleetobs-worker-process-shutdown"
    )
    _connected = True
    return True


@on_reset
def uninstrument() -> None:
    """Disconnect from Celery's worker signals."""
    global _connected
    if not _connected:
        return
    from celery import signals

    signals.worker_init.disconnect(dispatch_uid="fleetobs-worker-init")
    signals.worker_process_shutdown.disconnect(dispatch_uid="fleetobs-worker-process-shutdown")
    _connected = False
