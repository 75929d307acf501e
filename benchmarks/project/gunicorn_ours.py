"""gunicorn configuration with this project's server hooks (``instrumentation.gunicorn``)."""

from __future__ import annotations

from benchmarks.project.gunicorn_common import post_worker_init
from instrumentation import gunicorn as _hooks

on_starting = _hooks.on_starting
when_ready = _hooks.when_ready
post_fork = _hooks.post_fork
child_exit = _hooks.child_exit
worker_exit = _hooks.worker_exit
on_exit = _hooks.on_exit
if hasattr(_hooks, "logconfig_dict"):
    logconfig_dict = _hooks.logconfig_dict
    logger_class = _hooks.logger_class

__all__ = [
    "child_exit",
    "on_exit",
    "on_starting",
    "post_fork",
    "post_worker_init",
    "when_ready",
    "worker_exit",
]
