"""The sample shop: a small, realistic Django service that the demo and the tests run as a fleet.

``sample_app.settings`` configures it from the environment (PostgreSQL via ``DATABASE_URL``, Redis
via ``REDIS_URL``, Celery via ``CELERY_BROKER_URL``), ``sample_app.shop`` holds the models and
views, ``sample_app.fleet`` starts several instances under gunicorn with Prometheus and
Alertmanager watching them (``fleetobs demo``). See ``sample_app/README.md``.
"""
