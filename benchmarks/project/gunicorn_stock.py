"""gunicorn configuration of prometheus_client's stock multiprocess setup.

As prometheus_client's documentation describes it: ``PROMETHEUS_MULTIPROC_DIR`` points at an
empty directory, and ``child_exit`` calls ``prometheus_client.multiprocess.mark_process_dead``,
which only removes a dead worker's live-gauge files: its counter and histogram files stay and
are read again by every scrape. Used for the anchor stack (django-prometheus in multiprocess
mode) and as the "stock" side of the scrape-cost benchmark.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from prometheus_client import multiprocess

from benchmarks.project.gunicorn_common import post_worker_init

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-stock-metrics-")
    os.environ["FLEETOBS_BENCH_CREATED_DIR"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def child_exit(server: Any, worker: Any) -> None:
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    created = os.environ.get("FLEETOBS_BENCH_CREATED_DIR")
    if created:
        shutil.rmtree(created, ignore_errors=True)


__all__ = ["child_exit", "on_exit", "post_worker_init"]
