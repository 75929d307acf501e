"""Every field a JSON log line can carry, with its Elasticsearch type.

Names are Elastic Common Schema (ECS) names where ECS has one. The log pipeline writes only
these keys at the top level; the Elasticsearch index template maps exactly these; Kibana saved
objects and dashboard log panels may reference only these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EsType = Literal[
    "keyword",
    "text",
    "match_only_text",
    "long",
    "integer",
    "float",
    "double",
    "date",
    "ip",
    "boolean",
    "object",
    "flattened",
]

ECS_VERSION = "8.11.0"


@dataclass(frozen=True)
class LogField:
    """One log field: its dotted ECS name, Elasticsearch type and meaning."""

    name: str
    type: EsType
    description: str


LOG_FIELDS: tuple[LogField, ...] = (
    LogField("@timestamp", "date", "When the event happened (UTC, ISO 8601 with milliseconds)."),
    LogField("message", "match_only_text", "The log message."),
    LogField("log.level", "keyword", "Severity in lower case: debug, info, warning, error, critical."),
    LogField("log.logger", "keyword", "Name of the logger that emitted the line."),
    LogField("ecs.version", "keyword", "Version of the Elastic Common Schema the line follows."),
    LogField("service.name", "keyword", "Logical name of the service."),
    LogField("service.version", "keyword", "Version of the service."),
    LogField("service.environment", "keyword", "Deployment environment (production, staging, ...)."),
    LogField("host.name", "keyword", "Host name of the machine or container."),
    LogField("process.pid", "long", "Process id of the worker."),
    LogField("trace.id", "keyword", "Trace id of the active span (32 hex digits)."),
    LogField("span.id", "keyword", "Span id of the active span (16 hex digits)."),
    LogField("transaction.id", "keyword", "Span id of the request's server span."),
    LogField(
        "event.dataset",
        "keyword",
        "Kind of line: django.access (access lines), django.log (other lines), gunicorn.error.",
    ),
    LogField("event.duration", "long", "Duration of the event in nanoseconds."),
    LogField("http.request.id", "keyword", "Request id (from a valid X-Request-ID or generated)."),
    LogField("http.request.method", "keyword", "HTTP request method."),
    LogField("http.request.body.bytes", "long", "Size of the request body in bytes."),
    LogField("http.response.status_code", "long", "HTTP response status code."),
    LogField(
        "http.response.body.bytes",
        "long",
        "Size of the response body sent, in bytes (0 for HEAD, 1xx, 204 and 304).",
    ),
    LogField("http.route", "keyword", "URL pattern that matched the request, or its route name."),
    LogField("url.path", "keyword", "Path of the request URL."),
    LogField("url.query", "keyword", "Query string of the request URL, secrets masked."),
    LogField("client.ip", "ip", "Address of the client."),
    LogField("user_agent.original", "keyword", "User-Agent header of the request."),
    LogField("user.id", "keyword", "Id of the authenticated user."),
    LogField("error.type", "keyword", "Class name of the exception."),
    LogField("error.message", "match_only_text", "Message of the exception, secrets masked."),
    LogField("error.stack_trace", "text", "Formatted traceback of the exception."),
    LogField("task.name", "keyword", "Name of the background task being run."),
    LogField("task.id", "keyword", "Id of the background task being run."),
    LogField("db.statement", "keyword", "Normalised SQL statement (literals stripped)."),
    LogField("db.query_count", "long", "Times the statement ran in the request (N+1 warnings)."),
    LogField("websocket.close.code", "integer", "Close code of a WebSocket connection (absent if none)."),
    LogField(
        "websocket.close.reason",
        "keyword",
        "Why a WebSocket connection closed: the close code's class (normal, going_away, ...).",
    ),
    LogField("websocket.closed_by", "keyword", "Who closed a WebSocket connection: client or server."),
    LogField("websocket.messages.received", "long", "Messages a WebSocket connection received."),
    LogField("websocket.messages.sent", "long", "Messages a WebSocket connection sent."),
    LogField("labels", "flattened", "Any other key-value context the application bound."),
)

_BY_NAME = {f.name: f for f in LOG_FIELDS}


def log_field(name: str) -> LogField:
    """Return the declaration of ``name``; raises ``KeyError`` for a field that does not exist."""
    return _BY_NAME[name]
