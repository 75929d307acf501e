"""Fleet Observability: metrics, traces and JSON logs for Django services.

Add ``"instrumentation"`` to ``INSTALLED_APPS``, put
``"instrumentation.middleware.ObservabilityMiddleware"`` first in ``MIDDLEWARE`` and include
``instrumentation.urls``. Everything else is optional configuration (``FLEET_OBSERVABILITY``).
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
