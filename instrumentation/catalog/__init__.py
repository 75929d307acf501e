"""The signal catalogue: every metric and every log field this project emits, declared once.

The instrumentation registers its metrics from :data:`METRICS`; the log pipeline names its
fields from :data:`LOG_FIELDS`; ``dashboards/``, ``alerting/``, the Elasticsearch index
template and ``docs/metrics.md`` are all generated from the same declarations. This package is
the only part of :mod:`instrumentation` that the generators import, and it imports nothing
from the rest of the project, so reading it never starts any telemetry.
"""

from instrumentation.catalog.log_fields import LOG_FIELDS, LogField, log_field
from instrumentation.catalog.metrics import (
    CLIENT_CLOSED_REQUEST,
    HTTP_METHODS,
    METRICS,
    UNMATCHED_ROUTE,
    WEBSOCKET_CLOSE_REASONS,
    Metric,
    metric,
    series_names,
)

__all__ = [
    "CLIENT_CLOSED_REQUEST",
    "HTTP_METHODS",
    "LOG_FIELDS",
    "METRICS",
    "UNMATCHED_ROUTE",
    "WEBSOCKET_CLOSE_REASONS",
    "LogField",
    "Metric",
    "log_field",
    "metric",
    "series_names",
]
