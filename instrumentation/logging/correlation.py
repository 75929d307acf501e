"""Trace, request and service fields for a formatter the project did not write.

A team that already formats its logs (python-json-logger's ``JsonFormatter``, ecs-logging's
``StdlibFormatter`` or ``StructlogFormatter``, a plain ``%(...)s`` format) keeps it and adds
:class:`ContextFilter` to its handlers, or :class:`ContextProcessor` to its structlog chain.
Both add the same fields, read for each record from the same place as the project's own
pipeline (:func:`~instrumentation.logging.request_context.add_request_fields`: the request the
record names, else the bound request or task, and the active span), under one of two
spellings::

    ecs (default)          flat                  present
    trace.id               trace_id              in a traced request or task
    span.id                span_id               idem (the active span: a query's, inside one)
    transaction.id         transaction_id        idem (the request's server span)
    http.request.id        request_id            in a request
    task.name, task.id     task_name, task_id    in a background task
    service.name           service_name          always
    service.version        service_version       always (when set)
    service.environment    service_environment   always (when set)

``ecs``: the dotted ECS names. ecs-logging nests dotted attributes into objects and
python-json-logger writes them as keys as they are; absent fields are left out. ``flat``:
attribute names a ``%(trace_id)s`` format can name, every one always set (``""`` when absent)
so a format string never fails on a line logged outside a request.

A field the record already has (an ``extra=`` of the call, another filter's) is never replaced.
No third-party formatter is imported here: the fields are plain record attributes.

Django's ``django.request`` records also carry the ``HttpRequest`` itself (``extra``), which a
JSON formatter writes as its ``repr``, query string and all. The filter leaves it (the admins'
mail handler reads it from the same record); :data:`JSON_RESERVED_ATTRS` is the list of
attributes for python-json-logger to leave out (its ``reserved_attrs``), Django's request
included; ecs-logging takes ``exclude_fields=["request"]``.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from instrumentation._safety import internal_error
from instrumentation.logging import pipeline as pipeline_module
from instrumentation.logging.request_context import add_request_fields

__all__ = ["JSON_RESERVED_ATTRS", "STYLES", "ContextFilter", "ContextProcessor", "context_fields"]

#: A ``LogRecord``'s own attributes, the formatter's ``message``/``asctime``, and the request
#: Django attaches to its records: what a JSON formatter should not write as a field.
JSON_RESERVED_ATTRS: list[str] = sorted(
    {*logging.LogRecord("", 0, "", 0, "", (), None).__dict__, "message", "asctime", "taskName", "request"}
)

#: ECS name -> flat attribute name, for each field the filter may add.
_REQUEST_FIELDS = {
    "trace.id": "trace_id",
    "span.id": "span_id",
    "transaction.id": "transaction_id",
    "http.request.id": "request_id",
    "task.name": "task_name",
    "task.id": "task_id",
}
_SERVICE_FIELDS = {
    "service.name": "service_name",
    "service.version": "service_version",
    "service.environment": "service_environment",
}
_FLAT_NAMES = {**_REQUEST_FIELDS, **_SERVICE_FIELDS}
STYLES = ("ecs", "flat")


def context_fields(record: Any = None) -> dict[str, Any]:
    """The fields for a line logged now (ECS names; only those present).

    ``record``: the ``LogRecord`` being formatted, if any; the request it names (Django's
    ``extra={"request": ...}``) is the one the line is about.
    """
    found: dict[str, Any] = {}
    add_request_fields(found, record)
    fields = {key: found[key] for key in _REQUEST_FIELDS if found.get(key) is not None}
    static = pipeline_module.current().static.for_current_process().flat
    for key in _SERVICE_FIELDS:
        value = static.get(key)
        if value:
            fields[key] = value
    return fields


def _check_style(style: str) -> str:
    if style not in STYLES:
        msg = f"style must be one of {', '.join(STYLES)}, not {style!r}"
        raise ValueError(msg)
    return style


def _named(fields: dict[str, Any], style: str) -> dict[str, Any]:
    if style == "ecs":
        return fields
    return {flat: fields.get(ecs, "") for ecs, flat in _FLAT_NAMES.items()}


class ContextFilter(logging.Filter):
    """Adds the trace, request and service fields to every record it sees; drops none.

    In ``LOGGING``: ``"filters": {"fleetobs": {"()": "instrumentation.logging.ContextFilter"}}``
    (``"style": "flat"`` for a text format), then ``"filters": ["fleetobs"]`` on each handler.
    """

    def __init__(self, name: str = "", style: str = "ecs") -> None:
        super().__init__(name)
        self.style = _check_style(style)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            attributes = record.__dict__
            for key, value in _named(context_fields(record), self.style).items():
                attributes.setdefault(key, value)
        except Exception as exc:  # noqa: BLE001 - a missing field never costs the line
            internal_error(exc, "logging.context_filter")
        return True


class ContextProcessor:
    """structlog processor adding the same fields to the event dict (keys it has are kept).

    Place it before the renderer: ``structlog.configure(processors=[..., ContextProcessor(),
    structlog.processors.JSONRenderer()])``. As a ``ProcessorFormatter``'s ``foreign_pre_chain``
    step it also reads the request a standard-library record names.
    """

    def __init__(self, style: str = "ecs") -> None:
        self.style = _check_style(style)

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        try:
            record = event_dict.get("_record")
            for key, value in _named(context_fields(record), self.style).items():
                event_dict.setdefault(key, value)
        except Exception as exc:  # noqa: BLE001
            internal_error(exc, "logging.context_processor")
        return event_dict
