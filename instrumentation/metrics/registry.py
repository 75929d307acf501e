"""The metric objects declared in :mod:`instrumentation.catalog`, created on first use.

prometheus_client picks its value storage (in memory, or mmap files for multiprocess mode)
when its ``values`` module is imported, from ``PROMETHEUS_MULTIPROC_DIR``. Our gunicorn hooks
may set that variable after something imported prometheus_client, so the choice is refreshed
here, before the first metric is built. In multiprocess mode the metric objects belong to no
registry: the scrape reads the files through :class:`~instrumentation.metrics.multiprocess.FleetCollector`.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

from instrumentation._process import multiprocess_dir
from instrumentation.catalog import METRICS, Metric
from instrumentation.lifecycle import on_reset
from instrumentation.metrics import multiprocess, storage

_lock = threading.Lock()
_metrics: dict[str, Any] = {}
_registry: CollectorRegistry | None = None


# A fork never happens while another thread (the runtime sampler) is creating the metrics, and
# the child gets a lock of its own: a lock held across fork would never be released there.
# (Functions, not bound methods: the child rebinds ``_lock``.)
def _before_fork() -> None:
    _lock.acquire()


def _after_fork_in_parent() -> None:
    _lock.release()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)


def is_multiprocess() -> bool:
    return multiprocess_dir() is not None


def _recreate_directory() -> None:
    """Recreate the multiprocess directory if it vanished (a cleaned tmpfs under a running server).

    When it cannot be created, metric creation fails, the request path's error boundary logs it
    once, and the next request tries again: counting resumes as soon as the directory is back.
    """
    directory = multiprocess_dir()
    if directory is not None and not Path(directory).is_dir():
        with contextlib.suppress(OSError):
            Path(directory).mkdir(parents=True, exist_ok=True)


def _ensure_value_class() -> None:
    storage.install()
    _recreate_directory()
    multiprocess = getattr(values.ValueClass, "_multiprocess", False)
    if is_multiprocess() != multiprocess:
        values.ValueClass = values.get_value_class()


def _build(declaration: Metric, target: CollectorRegistry | None) -> Any:
    kwargs: dict[str, Any] = {"labelnames": declaration.labels, "registry": target}
    if declaration.type == "counter":
        return Counter(declaration.name, declaration.help, **kwargs)
    if declaration.type == "gauge":
        return Gauge(
            declaration.name, declaration.help, multiprocess_mode=declaration.multiprocess_mode, **kwargs
        )
    return Histogram(declaration.name, declaration.help, buckets=declaration.buckets, **kwargs)


def _create() -> None:
    global _registry
    _ensure_value_class()
    if is_multiprocess():
        # Before this process opens a file: a dead process that had its pid is folded first
        # (servers without a child-exit hook reuse pids too; gunicorn's post_fork does the same).
        with contextlib.suppress(Exception):
            multiprocess.claim_pid()
    new_registry = CollectorRegistry(auto_describe=True)
    target = None if is_multiprocess() else new_registry
    built = {declaration.name: _build(declaration, target) for declaration in METRICS}
    if is_multiprocess():
        new_registry.register(multiprocess.FleetCollector())
    _metrics.update(built)
    _registry = new_registry


def get(name: str) -> Any:
    """Return the prometheus_client object for catalogue metric ``name``."""
    try:
        return _metrics[name]
    except KeyError:
        pass
    with _lock:
        if not _metrics:
            _create()
    return _metrics[name]


def collector_registry() -> CollectorRegistry:
    """The registry that ``/metrics`` renders."""
    if _registry is None:
        with _lock:
            if _registry is None:
                _create()
    if _registry is None:  # pragma: no cover - _create always sets it
        raise RuntimeError("metrics registry was not created")
    return _registry


@on_reset
def reset() -> None:
    """Forget every metric object (tests; a new multiprocess directory)."""
    global _registry
    with _lock:
        _metrics.clear()
        _registry = None
