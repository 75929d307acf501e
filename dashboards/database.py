"""Database and cache: how much do we ask of them, and how fast do they answer?

Rows answer: *How many queries, and how slow?* (query rate and p95 latency by SQL operation,
p99 by connection alias), *Which operations are slowest?* (a table over the range by alias,
vendor and operation, sorted by p99), *Are connections or queries failing?* (failed connection
attempts, query errors by type, unapplied migrations), *How many queries does a request cost?*
(queries per request, N+1 detections) and *Is the cache helping?* (operations by result, hit
ratio and latency by alias).
"""

from __future__ import annotations

from grafanalib import core as gl

from dashboards import queries as q
from dashboards import uids
from dashboards.board import dashboard
from dashboards.panels import (
    ANY,
    COUNT,
    OPS_PER_SECOND,
    RATIO,
    SECONDS,
    Column,
    Query,
    Section,
    stat,
    table,
    timeseries,
)
from instrumentation.catalog import metric

UID = uids.DATABASE
TITLE = "Database and cache"

DB = metric("db_client_operation_duration_seconds")
DB_ERRORS = metric("fleetobs_db_errors")
DB_CONNECTION_ERRORS = metric("fleetobs_db_connection_errors")
MIGRATIONS = metric("fleetobs_django_migrations_unapplied")
QUERIES_PER_REQUEST = metric("fleetobs_db_queries_per_request")
N_PLUS_ONE = metric("fleetobs_db_n_plus_one")
CACHE = metric("fleetobs_cache_operations")
CACHE_DURATION = metric("fleetobs_cache_operation_duration_seconds")

BY_OPERATION = ("db_operation_name",)
DB_KEY = ("db_alias", "db_system", "db_operation_name")
BY_ALIAS = ("cache_alias",)


def build() -> gl.Dashboard:
    queries = [
        timeseries(
            "Query rate by operation",
            "Database queries per second by SQL operation (SELECT, INSERT, ...), all aliases.",
            [Query(q.rate(DB, "count", by=BY_OPERATION), "{{db_operation_name}}")],
            OPS_PER_SECOND,
            w=8,
            stack=True,
        ),
        timeseries(
            "Query latency p95 by operation",
            "95th percentile duration of database queries by SQL operation.",
            [Query(q.quantile(0.95, DB, by=BY_OPERATION), "{{db_operation_name}}")],
            SECONDS,
            w=8,
        ),
        timeseries(
            "Query latency p99 by alias",
            "99th percentile duration of database queries by connection alias and vendor.",
            [Query(q.quantile(0.99, DB, by=("db_alias", "db_system")), "{{db_alias}} ({{db_system}})")],
            SECONDS,
            w=8,
        ),
        table(
            "Slowest operations",
            "Every alias, vendor and SQL operation over the dashboard's range: query rate, mean, p95 and "
            "p99 duration, and the total time spent. Sorted by p99.",
            list(DB_KEY),
            [
                Column("Queries/s", q.range_rate(DB, "count", by=DB_KEY), OPS_PER_SECOND),
                Column(
                    "Mean",
                    q.ratio(q.increase(DB, "sum", by=DB_KEY), q.increase(DB, "count", by=DB_KEY)),
                    SECONDS,
                ),
                Column("p95", q.quantile(0.95, DB, by=DB_KEY, over_range=True), SECONDS),
                Column("p99", q.quantile(0.99, DB, by=DB_KEY, over_range=True), SECONDS),
                Column("Time spent", q.increase(DB, "sum", by=DB_KEY), SECONDS),
            ],
            h=8,
            sort_by="p99",
        ),
    ]
    errors = [
        timeseries(
            "Connection errors",
            "Failed attempts per second to open a database connection, by alias. Any is worth a look: the "
            "database is down, unreachable, refusing credentials or out of connections. Per instance on "
            "the Resources dashboard.",
            [Query(q.rate(DB_CONNECTION_ERRORS, by=("db_alias",)), "{{db_alias}}")],
            OPS_PER_SECOND,
            w=8,
            steps=ANY,
        ),
        timeseries(
            "Query errors by type",
            "Database queries per second that raised, by alias and exception class (IntegrityError, "
            "OperationalError, ...).",
            [Query(q.rate(DB_ERRORS, by=("db_alias", "error_type")), "{{db_alias}} {{error_type}}")],
            OPS_PER_SECOND,
            w=8,
            steps=ANY,
        ),
        stat(
            "Unapplied migrations",
            "Migrations known to the deployed code but not applied to the database, by alias. Anything above "
            "zero after a deploy means a migration step was skipped.",
            [Query(q.gauge(MIGRATIONS, "max", by=("db_alias",)), "{{db_alias}}")],
            COUNT,
            w=8,
            h=8,
            steps=ANY,
        ),
    ]
    per_request = [
        timeseries(
            "Queries per request",
            "Median and 95th percentile of the number of queries one request issues, all routes.",
            [
                Query(q.quantile(0.5, QUERIES_PER_REQUEST), "p50"),
                Query(q.quantile(0.95, QUERIES_PER_REQUEST), "p95"),
            ],
            COUNT,
        ),
        timeseries(
            "N+1 detections by route",
            "Requests per second in which one SQL statement repeated past the N+1 threshold, by route.",
            [Query(q.rate(N_PLUS_ONE, by=("http_route",)), "{{http_route}}")],
            OPS_PER_SECOND,
            steps=ANY,
        ),
    ]
    lookups = {"cache_result": ("=~", "hit|miss")}
    cache = [
        timeseries(
            "Cache operations by result",
            "Cache operations per second by alias, operation and result (hit, miss, ok, error).",
            [
                Query(
                    q.rate(CACHE, by=("cache_alias", "cache_operation", "cache_result")),
                    "{{cache_alias}} {{cache_operation}} {{cache_result}}",
                )
            ],
            OPS_PER_SECOND,
            w=8,
            stack=True,
        ),
        timeseries(
            "Cache hit ratio by alias",
            "Share of lookups that found their key, per cache alias.",
            [
                Query(
                    q.ratio(
                        q.rate(CACHE, matchers={"cache_result": "hit"}, by=BY_ALIAS),
                        q.rate(CACHE, matchers=lookups, by=BY_ALIAS),
                    ),
                    "{{cache_alias}}",
                )
            ],
            RATIO,
            w=8,
            min_value=0,
            max_value=1,
        ),
        timeseries(
            "Cache latency p95 by alias",
            "95th percentile duration of cache operations by alias and operation.",
            [
                Query(
                    q.quantile(0.95, CACHE_DURATION, by=("cache_alias", "cache_operation")),
                    "{{cache_alias}} {{cache_operation}}",
                )
            ],
            SECONDS,
            w=8,
        ),
    ]
    return dashboard(
        UID,
        TITLE,
        "Database queries and Django cache operations: rates, latencies, errors and per-request costs.",
        [
            Section("How many queries, and how slow?", queries),
            Section("Are connections or queries failing?", errors),
            Section("How many queries does a request cost?", per_request),
            Section("Is the cache helping?", cache),
        ],
    )
