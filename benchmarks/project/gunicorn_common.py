"""A gunicorn hook shared by the benchmark server configurations: warming a new worker.

For the scrape-cost benchmark every worker must hold the series of all 300 routes, as a
worker that served real traffic for a while would. With ``FLEETOBS_BENCH_READY_DIR`` set,
``post_worker_init`` serves one request per route through the worker's own application
(in-process, through the whole middleware stack), then writes ``<dir>/<pid>`` so the benchmark
knows the worker is warm.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def post_worker_init(worker: Any) -> None:
    directory = os.environ.get("FLEETOBS_BENCH_READY_DIR")
    if not directory:
        return
    from benchmarks.project.routes import ROUTES
    from benchmarks.wsgi_client import Client

    routes = int(os.environ.get("FLEETOBS_BENCH_WARM_ROUTES", str(ROUTES)))
    for index in range(routes):
        Client(worker.wsgi, f"/api/v1/resource{index:03d}/1/").one()
    Path(directory, str(os.getpid())).write_text("warm")
