"""A small Django project served by every benchmark configuration.

``settings`` builds the settings of the configuration named by ``FLEETOBS_BENCH_CONFIG``;
``wsgi`` is the application (with the exporters replaced by in-process sinks, see
:mod:`benchmarks.sinks`); ``urls`` has the two measured views, ``routes`` a URLconf of 300
routes for the scrape-cost benchmark; ``gunicorn_ours`` and ``gunicorn_stock`` are the server
hooks of this project and of prometheus_client's stock multiprocess setup.
"""
