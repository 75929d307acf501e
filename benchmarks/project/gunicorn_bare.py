"""gunicorn configuration for bare Django: gunicorn's defaults, plus the benchmark's warm hook."""

from __future__ import annotations

from benchmarks.project.gunicorn_common import post_worker_init

__all__ = ["post_worker_init"]
