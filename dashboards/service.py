"""Service drill-down: where is this service's time going, and what changed?

Rows answer: *How is the service doing right now?* (rate, error ratio, latency percentiles
with exemplars that open the trace in Tempo, status-code mix), *Which routes matter?* (a
per-route table with rate, errors, p95 and share of total time spent, the slowest routes and
the exceptions by type), *Is the database or the cache to blame?* (queries per request and N+1
detections by route, cache hit ratio) and *Is this normal?* (rate, errors and p95 against the
same time a week ago). ``$route`` narrows every per-route panel.
"""

from __future__ import annotations

from grafanalib import core as gl

from dashboards import queries as q
from dashboards import uids, variables
from dashboards.board import dashboard
from dashboards.panels import (
    ANY,
    COUNT,
    ERROR_RATIO,
    LATENCY,
    OPS_PER_SECOND,
    RATIO,
    REQUESTS_PER_SECOND,
    SECONDS,
    Column,
    Query,
    Section,
    stat,
    table,
    timeseries,
)
from instrumentation.catalog import metric

UID = uids.SERVICE
TITLE = "Service"

HTTP = metric("http_server_request_duration_seconds")
EXCEPTIONS = metric("fleetobs_http_server_exceptions")
QUERIES_PER_REQUEST = metric("fleetobs_db_queries_per_request")
N_PLUS_ONE = metric("fleetobs_db_n_plus_one")
CACHE = metric("fleetobs_cache_operations")
WS_OPENED = metric("fleetobs_websocket_connections_opened")
WS_ACTIVE = metric("fleetobs_websocket_connections_active")
WS_CLOSED = metric("fleetobs_websocket_connections_closed")
WS_CAPACITY = metric("fleetobs_websocket_connection_capacity")
WS_RECEIVED = metric("fleetobs_websocket_messages_received")
WS_SENT = metric("fleetobs_websocket_messages_sent")
BY_WS_ROUTE = ("websocket_route",)

ROUTE = {"http_route": ("=~", "$route")}
ERRORS = {**ROUTE, "http_response_status_code": ("=~", "5..")}
BY_ROUTE = ("http_route",)
LOOKUPS = {"cache_result": ("=~", "hit|miss")}
HITS = {"cache_result": "hit"}


def error_ratio(by: tuple[str, ...] = (), offset: str = "") -> str:
    total = q.rate(HTTP, "count", ROUTE, by, offset=offset)
    return q.ratio(q.or_zero(q.rate(HTTP, "count", ERRORS, by, offset=offset), total), total)


def p95_offset(offset: str) -> str:
    """p95 latency, optionally as it was ``offset`` ago."""
    return f"histogram_quantile(0.95, {q.rate(HTTP, 'bucket', ROUTE, ('le',), offset=offset)})"


def route_table() -> gl.Table:
    total_range = q.increase(HTTP, "count", ROUTE, BY_ROUTE)
    errors_range = q.or_zero(q.increase(HTTP, "count", ERRORS, BY_ROUTE), total_range)
    time_share = (
        f"{q.increase(HTTP, 'sum', ROUTE, BY_ROUTE)} / on() group_left() {q.increase(HTTP, 'sum', ROUTE)}"
    )
    return table(
        "Routes",
        "Every URL pattern of the service over the dashboard's range: request rate, share of 5xx responses, "
        "95th percentile latency and share of the total time the service spent serving requests. Sorted by "
        "share of time: the top rows are where optimisation pays.",
        ["http_route"],
        [
            Column("Requests/s", q.range_rate(HTTP, "count", ROUTE, BY_ROUTE), REQUESTS_PER_SECOND),
            Column("Errors", q.ratio(errors_range, total_range), RATIO, ERROR_RATIO),
            Column("p95", q.quantile(0.95, HTTP, ROUTE, BY_ROUTE, over_range=True), SECONDS, LATENCY),
            Column("Share of time", time_share, RATIO),
        ],
        h=10,
        sort_by="Share of time",
    )


def build() -> gl.Dashboard:
    rate = q.rate(HTTP, "count", ROUTE)
    now = [
        stat(
            "Request rate",
            "Requests per second answered by the selected instances and routes.",
            [Query(rate, "requests")],
            REQUESTS_PER_SECOND,
        ),
        stat(
            "Error ratio",
            "Share of requests answered with a 5xx status code.",
            [Query(error_ratio(), "errors")],
            RATIO,
            steps=ERROR_RATIO,
        ),
        stat(
            "p95 latency",
            "95th percentile of request duration.",
            [Query(q.quantile(0.95, HTTP, ROUTE), "p95")],
            SECONDS,
            steps=LATENCY,
        ),
        stat(
            "Cache hit ratio",
            "Share of cache lookups (get) that found their key, all cache aliases.",
            [Query(q.ratio(q.rate(CACHE, matchers=HITS), q.rate(CACHE, matchers=LOOKUPS)), "hits")],
            RATIO,
        ),
        timeseries(
            "Latency p50 / p95 / p99",
            "Request duration percentiles. Dots are exemplars: click one to open that request's trace "
            "in Tempo.",
            [
                Query(q.quantile(p, HTTP, ROUTE), f"p{round(p * 100)}", exemplar=True)
                for p in (0.5, 0.95, 0.99)
            ],
            SECONDS,
            steps=LATENCY,
        ),
        timeseries(
            "Status codes",
            "Requests per second by HTTP status code. A growing 4xx band often means a broken client or "
            "link; 5xx is the service's own failure.",
            [
                Query(
                    q.rate(HTTP, "count", ROUTE, ("http_response_status_code",)),
                    "{{http_response_status_code}}",
                )
            ],
            REQUESTS_PER_SECOND,
            stack=True,
        ),
    ]
    routes = [
        route_table(),
        timeseries(
            "Slowest routes (p95)",
            "The five routes with the highest 95th percentile latency at each moment. Dots are exemplars "
            "that open a trace of a request to that route.",
            [Query(f"topk(5, {q.quantile(0.95, HTTP, ROUTE, BY_ROUTE)})", "{{http_route}}", exemplar=True)],
            SECONDS,
            steps=LATENCY,
        ),
        timeseries(
            "Exceptions by type",
            "Unhandled exceptions raised by views per second, by exception class and route (Http404 and "
            "permission errors are not exceptions here).",
            [
                Query(
                    q.rate(EXCEPTIONS, matchers=ROUTE, by=("error_type", "http_route")),
                    "{{error_type}} {{http_route}}",
                )
            ],
            OPS_PER_SECOND,
            steps=ANY,
        ),
    ]
    backends = [
        timeseries(
            "Queries per request (p95) by route",
            "95th percentile of the number of database queries one request issues. A route whose count grows "
            "with the data it shows has an N+1 problem.",
            [Query(q.quantile(0.95, QUERIES_PER_REQUEST, ROUTE, BY_ROUTE), "{{http_route}}")],
            COUNT,
            w=8,
        ),
        timeseries(
            "N+1 detections by route",
            "Requests per second in which the same SQL statement ran more often than the N+1 threshold. The "
            "log line of each detection names the statement.",
            [Query(q.rate(N_PLUS_ONE, matchers=ROUTE, by=BY_ROUTE), "{{http_route}}")],
            OPS_PER_SECOND,
            w=8,
            steps=ANY,
        ),
        timeseries(
            "Cache hit ratio by alias",
            "Share of cache lookups that found their key, per Django cache alias.",
            [
                Query(
                    q.ratio(
                        q.rate(CACHE, matchers=HITS, by=("cache_alias",)),
                        q.rate(CACHE, matchers=LOOKUPS, by=("cache_alias",)),
                    ),
                    "{{cache_alias}}",
                )
            ],
            RATIO,
            w=8,
        ),
    ]
    week = [
        timeseries(
            "Request rate, this week vs last",
            "Requests per second now and at the same time one week earlier.",
            [Query(rate, "now"), Query(q.rate(HTTP, "count", ROUTE, offset="1w"), "a week ago")],
            REQUESTS_PER_SECOND,
            w=8,
        ),
        timeseries(
            "Error ratio, this week vs last",
            "Share of 5xx responses now and at the same time one week earlier.",
            [Query(error_ratio(), "now"), Query(error_ratio(offset="1w"), "a week ago")],
            RATIO,
            w=8,
            steps=ERROR_RATIO,
        ),
        timeseries(
            "p95 latency, this week vs last",
            "95th percentile latency now and at the same time one week earlier.",
            [Query(p95_offset(""), "now"), Query(p95_offset("1w"), "a week ago")],
            SECONDS,
            w=8,
            steps=LATENCY,
        ),
    ]
    websockets = [
        timeseries(
            "WebSocket connections open",
            "WebSocket connections open right now, by consumer route, and the connections the service is "
            "sized to hold (ObservedWebSockets' max_connections, summed over processes).",
            [
                Query(q.gauge(WS_ACTIVE, by=BY_WS_ROUTE), "{{websocket_route}}"),
                Query(q.gauge(WS_CAPACITY), "capacity"),
            ],
            COUNT,
            w=8,
        ),
        timeseries(
            "WebSocket connections opened and closed",
            "Connections accepted per second by route, and closed per second by route and reason (the close "
            "code's class: normal, going_away, abnormal, rejected, server_error, ...).",
            [
                Query(q.rate(WS_OPENED, by=BY_WS_ROUTE), "{{websocket_route}} opened"),
                Query(
                    q.rate(WS_CLOSED, by=(*BY_WS_ROUTE, "websocket_close_reason")),
                    "{{websocket_route}} closed {{websocket_close_reason}}",
                ),
            ],
            OPS_PER_SECOND,
            w=8,
        ),
        timeseries(
            "WebSocket messages in and out",
            "WebSocket messages received from clients and sent to them per second, by route.",
            [
                Query(q.rate(WS_RECEIVED, by=BY_WS_ROUTE), "{{websocket_route}} in"),
                Query(q.rate(WS_SENT, by=BY_WS_ROUTE), "{{websocket_route}} out"),
            ],
            OPS_PER_SECOND,
            w=8,
        ),
    ]
    return dashboard(
        UID,
        TITLE,
        "One service in depth: routes, status codes, exceptions, database and cache use per request, and "
        "week-over-week comparison.",
        [
            Section("How is the service doing?", now),
            Section("Which routes matter?", routes),
            Section("Database and cache per request", backends),
            Section("Compared with last week", week),
            Section("How are the WebSocket connections doing?", websockets),
        ],
        extra_variables=[variables.label_variable("route", "Route", HTTP.name, "http_route")],
    )
