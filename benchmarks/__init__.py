"""Benchmarks: what the instrumentation costs, against bare Django and the stack it replaces.

``python -m benchmarks`` (``make bench``) runs every section and writes
``benchmarks/results/latest.json`` and ``docs/performance.md``; ``--quick`` is a short run.

Sections, one module each:

``overhead``   µs per request in-process through Django's WSGI handler, every configuration
               in its own worker process (:mod:`~benchmarks.worker`), interleaved over rounds.
``load``       requests/s and latency percentiles under ``wrk`` against real gunicorn.
``scrape``     ``/metrics`` cost with 300 routes, before and after 100 worker restarts, this
               project's collector against prometheus_client's stock one.
``logs``       JSON lines per second, this project's pipeline against python-json-logger and
               structlog.
``profile``    where the request path's microseconds go (:mod:`~benchmarks.profiling`).

Supporting modules: :mod:`~benchmarks.configs` (what is measured), :mod:`~benchmarks.project`
(the Django project served), :mod:`~benchmarks.sinks` (in-process span exporters),
:mod:`~benchmarks.wsgi_client`, :mod:`~benchmarks.servers`, :mod:`~benchmarks.stats`,
:mod:`~benchmarks.machine`, :mod:`~benchmarks.report` (the Markdown page).
"""
