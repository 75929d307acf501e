"""Every Prometheus metric the instrumentation exposes.

Names follow the OpenTelemetry semantic conventions as exported to Prometheus where one exists
(``http_server_request_duration_seconds``, ``db_client_operation_duration_seconds``); the rest
carry the ``fleetobs_`` prefix. Counters are declared without the ``_total`` suffix that the
exposition adds. Label values are always bounded: routes are URL patterns, methods outside
:data:`HTTP_METHODS` become ``_OTHER``, and error types are exception class names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricType = Literal["counter", "gauge", "histogram"]
# How a gauge's per-worker values combine into one per instance (prometheus_client's modes).
GaugeMode = Literal["livesum", "livemax", "livemin", "max", "min", "sum", "mostrecent", "livemostrecent"]

#: The methods that keep their own label value; anything else is reported as ``_OTHER``.
HTTP_METHODS: frozenset[str] = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
#: The ``http_route`` of every request that matched no URL pattern.
UNMATCHED_ROUTE = "<unmatched>"
#: The status of a streamed response whose client went away before its last byte (nginx's
#: "client closed request"); the response itself was sent with the status its view chose.
CLIENT_CLOSED_REQUEST = 499
#: Why a WebSocket connection closed (``websocket_close_reason``), from its close code (RFC 6455
#: section 7.4): 1000 ``normal``, 1001 ``going_away``, 1005 and 1006 (no close frame: the
#: connection dropped) ``abnormal``, 1002, 1003, 1007, 1009 and 1010 ``protocol_error``, 1008
#: ``policy_violation``, 1011 to 1015 ``server_error``, 3000 to 4999 ``application``; a
#: connection the application refused before accepting it is ``rejected``; anything else ``other``.
WEBSOCKET_CLOSE_REASONS: tuple[str, ...] = (
    "normal",
    "going_away",
    "abnormal",
    "protocol_error",
    "policy_violation",
    "server_error",
    "application",
    "rejected",
    "other",
)

#: OpenTelemetry's recommended buckets for HTTP server durations, in seconds.
HTTP_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
DB_DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CACHE_DURATION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
#: Streamed responses (downloads, server-sent events) last from milliseconds to an hour.
STREAM_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
SIZE_BUCKETS = (100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0)
QUERY_COUNT_BUCKETS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0)
TASK_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(frozen=True)
class Metric:
    """One metric: everything needed to register it, query it and document it."""

    name: str
    type: MetricType
    unit: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    #: For gauges under multiprocess mode: how workers' values combine.
    multiprocess_mode: GaugeMode = "livesum"
    #: The group the metric belongs to, used to order documentation and dashboards.
    group: str = "http"

    def __post_init__(self) -> None:
        if self.type == "counter" and self.name.endswith("_total"):
            raise ValueError(f"declare counter {self.name!r} without the _total suffix")
        if self.type == "histogram" and not self.buckets:
            raise ValueError(f"histogram {self.name!r} needs buckets")
        if self.unit and not self.name.endswith(f"_{self.unit}") and self.type != "counter":
            raise ValueError(f"metric {self.name!r} should end with its unit {self.unit!r}")

    @property
    def series(self) -> tuple[str, ...]:
        """The series names that appear in an exposition for this metric."""
        if self.type == "counter":
            return (f"{self.name}_total",)
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_count", f"{self.name}_sum")
        return (self.name,)


_HTTP_LABELS = ("http_request_method", "http_route", "http_response_status_code")

METRICS: tuple[Metric, ...] = (
    # HTTP server: rate, errors, duration.
    Metric(
        "http_server_request_duration_seconds",
        "histogram",
        "seconds",
        "Duration of HTTP server requests, by method, URL pattern and status code.",
        _HTTP_LABELS,
        HTTP_DURATION_BUCKETS,
    ),
    Metric(
        "http_server_active_requests",
        "gauge",
        "",
        "Requests being served right now by this instance (all workers).",
        multiprocess_mode="livesum",
    ),
    Metric(
        "http_server_request_body_size_bytes",
        "histogram",
        "bytes",
        "Size of HTTP request bodies (of requests that have one), by method and URL pattern.",
        ("http_request_method", "http_route"),
        SIZE_BUCKETS,
    ),
    Metric(
        "http_server_response_body_size_bytes",
        "histogram",
        "bytes",
        "Size of HTTP response bodies as sent (streamed and file bodies counted as the server sends "
        "them; 0 for HEAD, 1xx, 204 and 304), by method and URL pattern.",
        ("http_request_method", "http_route"),
        SIZE_BUCKETS,
    ),
    Metric(
        "fleetobs_http_server_stream_duration_seconds",
        "histogram",
        "seconds",
        "Duration of streamed responses (StreamingHttpResponse, FileResponse, server-sent events) from "
        "the request's arrival to the last byte sent, by method, URL pattern and status code; 499 when "
        "the client went away before the last byte.",
        _HTTP_LABELS,
        STREAM_DURATION_BUCKETS,
    ),
    Metric(
        "fleetobs_http_server_exceptions",
        "counter",
        "",
        "Unhandled exceptions raised by views, by URL pattern and exception type "
        "(Http404, PermissionDenied and other client errors excluded).",
        ("http_route", "error_type"),
    ),
    # Database.
    Metric(
        "db_client_operation_duration_seconds",
        "histogram",
        "seconds",
        "Duration of database queries, by connection alias, vendor and SQL operation.",
        ("db_alias", "db_system", "db_operation_name"),
        DB_DURATION_BUCKETS,
        group="db",
    ),
    Metric(
        "fleetobs_db_queries_per_request",
        "histogram",
        "",
        "Number of database queries issued while serving one request, by URL pattern.",
        ("http_route",),
        QUERY_COUNT_BUCKETS,
        group="db",
    ),
    Metric(
        "fleetobs_db_n_plus_one",
        "counter",
        "",
        "Requests in which the same normalised SQL statement ran more often than the N+1 threshold, "
        "by URL pattern.",
        ("http_route",),
        group="db",
    ),
    Metric(
        "fleetobs_db_errors",
        "counter",
        "",
        "Database queries that raised, by connection alias, vendor and exception type.",
        ("db_alias", "db_system", "error_type"),
        group="db",
    ),
    Metric(
        "fleetobs_db_connection_errors",
        "counter",
        "",
        "Failed attempts to open a database connection, by alias and vendor.",
        ("db_alias", "db_system"),
        group="db",
    ),
    Metric(
        "fleetobs_django_migrations_unapplied",
        "gauge",
        "",
        "Migrations known to the code but not applied to the database, by connection alias.",
        ("db_alias",),
        multiprocess_mode="livemax",
        group="db",
    ),
    # Cache.
    Metric(
        "fleetobs_cache_operations",
        "counter",
        "",
        "Django cache operations, by cache alias, operation and result (hit, miss, ok, error).",
        ("cache_alias", "cache_operation", "cache_result"),
        group="cache",
    ),
    Metric(
        "fleetobs_cache_operation_duration_seconds",
        "histogram",
        "seconds",
        "Duration of Django cache operations, by cache alias and operation.",
        ("cache_alias", "cache_operation"),
        CACHE_DURATION_BUCKETS,
        group="cache",
    ),
    # Runtime and saturation, combined over the instance's live workers.
    Metric(
        "fleetobs_process_cpu_seconds",
        "counter",
        "",
        "CPU time used by the instance's worker processes, user and system, in seconds.",
        group="runtime",
    ),
    Metric(
        "fleetobs_process_cpu_limit_cores",
        "gauge",
        "cores",
        "CPU cores the instance may use: its cgroup quota, or the machine's CPU count.",
        multiprocess_mode="livemax",
        group="runtime",
    ),
    Metric(
        "fleetobs_process_resident_memory_bytes",
        "gauge",
        "bytes",
        "Resident memory of the instance's live worker processes, summed.",
        multiprocess_mode="livesum",
        group="runtime",
    ),
    Metric(
        "fleetobs_process_memory_limit_bytes",
        "gauge",
        "bytes",
        "Memory limit of the instance's cgroup, or the machine's memory when unlimited.",
        multiprocess_mode="livemax",
        group="runtime",
    ),
    Metric(
        "fleetobs_process_open_fds",
        "gauge",
        "",
        "Open file descriptors of the busiest live worker process.",
        multiprocess_mode="livemax",
        group="runtime",
    ),
    Metric(
        "fleetobs_process_max_fds",
        "gauge",
        "",
        "File descriptor limit of the worker processes (the lowest among live workers).",
        multiprocess_mode="livemin",
        group="runtime",
    ),
    Metric(
        "fleetobs_process_threads",
        "gauge",
        "",
        "Threads in the instance's live worker processes, summed.",
        multiprocess_mode="livesum",
        group="runtime",
    ),
    Metric(
        "fleetobs_python_gc_collections",
        "counter",
        "",
        "Garbage collector runs, by generation.",
        ("generation",),
        group="runtime",
    ),
    Metric(
        "fleetobs_server_workers",
        "gauge",
        "",
        "Live worker processes of the instance.",
        multiprocess_mode="livesum",
        group="runtime",
    ),
    Metric(
        "fleetobs_server_worker_capacity",
        "gauge",
        "",
        "Requests the instance can serve at once (workers times threads per worker).",
        multiprocess_mode="livesum",
        group="runtime",
    ),
    Metric(
        "fleetobs_build_info",
        "gauge",
        "",
        "Always 1; labels carry the service name and version, Django and Python versions.",
        ("service_name", "service_version", "django_version", "python_version"),
        multiprocess_mode="livemax",
        group="runtime",
    ),
    # WebSockets (Django Channels, through instrumentation.channels.ObservedWebSockets).
    Metric(
        "fleetobs_websocket_connections_opened",
        "counter",
        "",
        "WebSocket connections the application accepted, by route (the URL pattern, or the consumer "
        "class when no pattern is known).",
        ("websocket_route",),
        group="websocket",
    ),
    Metric(
        "fleetobs_websocket_connections_active",
        "gauge",
        "",
        "WebSocket connections open right now on this instance (all processes), by route.",
        ("websocket_route",),
        multiprocess_mode="livesum",
        group="websocket",
    ),
    Metric(
        "fleetobs_websocket_connections_closed",
        "counter",
        "",
        "WebSocket connections closed, by route and reason (the close code's class: normal, going_away, "
        "abnormal, protocol_error, policy_violation, server_error, application, rejected, other).",
        ("websocket_route", "websocket_close_reason"),
        group="websocket",
    ),
    Metric(
        "fleetobs_websocket_connection_capacity",
        "gauge",
        "",
        "WebSocket connections the instance is sized to hold at once (ObservedWebSockets' "
        "max_connections, summed over live processes).",
        multiprocess_mode="livesum",
        group="websocket",
    ),
    Metric(
        "fleetobs_websocket_messages_received",
        "counter",
        "",
        "WebSocket messages received from clients (text and binary), by route.",
        ("websocket_route",),
        group="websocket",
    ),
    Metric(
        "fleetobs_websocket_messages_sent",
        "counter",
        "",
        "WebSocket messages sent to clients (text and binary), by route.",
        ("websocket_route",),
        group="websocket",
    ),
    # Background tasks (Celery).
    Metric(
        "fleetobs_task_published",
        "counter",
        "",
        "Background tasks queued, by task name.",
        ("task_name",),
        group="tasks",
    ),
    Metric(
        "fleetobs_task_executions",
        "counter",
        "",
        "Background task executions finished, by task name and outcome (success, failure, retry).",
        ("task_name", "task_state"),
        group="tasks",
    ),
    Metric(
        "fleetobs_task_duration_seconds",
        "histogram",
        "seconds",
        "Time a background task spent running, by task name.",
        ("task_name",),
        TASK_DURATION_BUCKETS,
        group="tasks",
    ),
    Metric(
        "fleetobs_task_queue_wait_seconds",
        "histogram",
        "seconds",
        "Time a background task waited in its queue before a worker started it, by task name.",
        ("task_name",),
        TASK_DURATION_BUCKETS,
        group="tasks",
    ),
    # The telemetry pipeline itself.
    Metric(
        "fleetobs_telemetry_exported",
        "counter",
        "",
        "Spans and log records handed to their backend successfully, by signal (spans, logs).",
        ("signal",),
        group="pipeline",
    ),
    Metric(
        "fleetobs_telemetry_dropped",
        "counter",
        "",
        "Spans and log records dropped, by signal and reason "
        "(queue_full, export_failed, rejected, shutdown).",
        ("signal", "reason"),
        group="pipeline",
    ),
    Metric(
        "fleetobs_telemetry_export_failures",
        "counter",
        "",
        "Failed export attempts to a backend (each retry counts), by signal.",
        ("signal",),
        group="pipeline",
    ),
    Metric(
        "fleetobs_internal_errors",
        "counter",
        "",
        "Failures inside the instrumentation itself, caught before they reached the application, "
        "by where they happened (e.g. db.span, middleware.finish.metrics); each is logged once.",
        ("where",),
        group="pipeline",
    ),
)

_BY_NAME = {m.name: m for m in METRICS}
if len(_BY_NAME) != len(METRICS):  # pragma: no cover - guarded by the catalogue test
    raise ValueError("duplicate metric name in the catalogue")


def metric(name: str) -> Metric:
    """Return the declaration of ``name``; raises ``KeyError`` for a metric that does not exist."""
    return _BY_NAME[name]


def series_names() -> frozenset[str]:
    """Every series name an exposition can contain (``_total``, ``_bucket``, ... included)."""
    return frozenset(s for m in METRICS for s in m.series)
