# ruff: noqa: N999 - gunicorn looks for a file of this conventional name
"""gunicorn configuration of the sample shop: ``gunicorn -c sample_app/gunicorn.conf.py``.

The server hooks come from ``instrumentation.gunicorn`` (multiprocess metrics directory, merging
dead workers' counters, flushing telemetry on worker exit); the rest is ordinary tuning read from
the environment so the same file serves the demo, the tests and the container image.
"""

import os

from instrumentation import gunicorn as _fleetobs_hooks
from instrumentation.gunicorn import child_exit, on_exit, on_starting, post_fork, when_ready, worker_exit

__all__ = ["child_exit", "on_exit", "on_starting", "post_fork", "when_ready", "worker_exit"]

wsgi_app = "sample_app.wsgi:application"
bind = os.environ.get("SHOP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("SHOP_THREADS", "1"))
timeout = int(os.environ.get("SHOP_WORKER_TIMEOUT", "30"))
graceful_timeout = 10
keepalive = 5
# Recycling workers is normal in production; the instrumentation keeps counters monotonic.
max_requests = int(os.environ.get("SHOP_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# Requests are logged as JSON by the instrumentation; gunicorn's own access log would repeat them.
accesslog = None
# gunicorn >= 25.1 opens a control socket at one fixed path per user; several instances on one
# host would fight over it, and nothing here uses it (older versions ignore this setting).
control_socket_disable = True
if hasattr(_fleetobs_hooks, "logconfig_dict"):
    logconfig_dict = _fleetobs_hooks.logconfig_dict
    logger_class = _fleetobs_hooks.logger_class
