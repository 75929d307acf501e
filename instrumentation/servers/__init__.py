"""Running the instrumented project under every server Django runs under.

gunicorn has its hooks in :mod:`instrumentation.gunicorn`. The ASGI servers get:

``launch``     ``fleetobs serve SERVER ARGS...``: the shared metrics directory (prepared,
               emptied, held, removed), the service's settings for the parent's own lines, and
               the server's logging configuration, then the server's own entry point in the
               same process.
``logconfig``  the ``dictConfig`` for uvicorn, hypercorn and granian that renders their lines as
               ECS JSON, their access logs off (the middleware writes the access line).
``cli``        the ``serve`` subcommand.

docs/deployment.md says, per server, the command, what is measured and what was verified.
"""
