"""Logs: what are the services saying, and which errors need a trace?

Panels read the Elasticsearch datasource (provisioned with uid ``elasticsearch``, index
``logs-fleetobs-*``). Rows answer: *How much is logged, and at what level?* (volume by level
and by service), *Which errors, and where?* (errors by type, recent error lines, and a table of
recent errors whose ``trace.id`` opens the trace in Tempo) and *What do the warnings say?*
(N+1 warnings with their statement, slow requests from the access log). ``$job`` and
``$environment`` filter on ``service.name`` and ``service.environment``; instead of the
Prometheus ``$instance``, ``$host`` (read from Elasticsearch) filters on ``host.name``, the
machine or container that wrote the line.
"""

from __future__ import annotations

from typing import Any

from grafanalib import core as gl

from dashboards import logsearch as ls
from dashboards import uids
from dashboards.board import dashboard
from dashboards.panels import COUNT, ELASTICSEARCH_DS, NEUTRAL, Section, explore_trace_link, timeseries

UID = uids.LOGS
TITLE = "Logs"

ERROR_LEVELS = ("error", "critical")
ERROR_COLUMNS = ("@timestamp", "service.name", "http.route", "error.type", "message", "trace.id")
SLOW_NANOSECONDS = 1_000_000_000


def logs_panel(title: str, description: str, query: str, *, w: int = 24, h: int = 10) -> gl.Logs:
    return gl.Logs(
        title=title,
        description=description,
        dataSource=ELASTICSEARCH_DS,
        targets=[ls.log_lines("A", query)],
        gridPos=gl.GridPos(h=h, w=w, x=0, y=0),
        showTime=True,
        wrapLogMessages=True,
        enableLogDetails=True,
        sortOrder="Descending",
    )


def recent_errors_table() -> gl.Table:
    columns = [ls.field(name) for name in ERROR_COLUMNS]
    trace_link: dict[str, Any] = {
        "matcher": {"id": "byName", "options": ls.field("trace.id")},
        "properties": [{"id": "links", "value": [explore_trace_link()]}],
    }
    return gl.Table(
        title="Recent errors with traces",
        description="The latest error and critical log lines with their service, route, exception type and "
        "trace id. Click a trace id to open the trace in Tempo.",
        dataSource=ELASTICSEARCH_DS,
        targets=[ls.documents("A", ls.scoped(ls.term("log.level", *ERROR_LEVELS)))],
        gridPos=gl.GridPos(h=10, w=24, x=0, y=0),
        unit="string",
        thresholds=NEUTRAL,
        overrides=[trace_link],
        filterable=True,
        sortBy=[gl.TableSortByField(displayName="@timestamp", desc=True)],
        transformations=[
            {"id": "filterFieldsByName", "options": {"include": {"names": columns}}},
            {"id": "organize", "options": {"indexByName": {name: i for i, name in enumerate(columns)}}},
        ],
    )


def build() -> gl.Dashboard:
    volume = [
        timeseries(
            "Log volume by level",
            "Log lines per interval by level. A jump in warning or error lines is often the first sign.",
            [ls.count_by("A", ls.scoped(), ["log.level"])],
            COUNT,
            stack=True,
        ),
        timeseries(
            "Log volume by service",
            "Log lines per interval by service.",
            [ls.count_by("A", ls.scoped(), ["service.name"])],
            COUNT,
            stack=True,
        ),
    ]
    errors = [
        timeseries(
            "Errors by type",
            "Error and critical log lines per interval by exception class.",
            [ls.count_by("A", ls.scoped(ls.term("log.level", *ERROR_LEVELS)), ["error.type"])],
            COUNT,
            w=24,
            stack=True,
        ),
        recent_errors_table(),
        logs_panel(
            "Error log lines",
            "The latest error and critical lines in full, with their stack traces. The trace id field links "
            "to Tempo.",
            ls.scoped(ls.term("log.level", *ERROR_LEVELS)),
        ),
    ]
    warnings = [
        logs_panel(
            "N+1 warnings",
            "Requests in which one SQL statement repeated past the N+1 threshold: the statement and "
            "how often it ran.",
            ls.scoped(ls.exists("db.statement"), ls.exists("db.query_count")),
            w=12,
        ),
        logs_panel(
            "Slow requests",
            "Access log lines of requests that took a second or more.",
            ls.scoped(
                ls.term("event.dataset", "django.access"), ls.at_least("event.duration", SLOW_NANOSECONDS)
            ),
            w=12,
        ),
    ]
    return dashboard(
        UID,
        TITLE,
        "Log volume, errors with links to their traces, and warnings, from Elasticsearch.",
        [
            Section("How much is logged, and at what level?", volume),
            Section("Which errors, and where?", errors),
            Section("What do the warnings say?", warnings),
        ],
        instance=False,
        extra_variables=[ls.host_variable()],
    )
