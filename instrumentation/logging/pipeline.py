"""The one log pipeline: structlog and the standard library rendered the same way.

::

    structlog logger ──> merge_contextvars ──> wrap_for_formatter ─┐
                                                                    ├─> stdlib handler tree
    stdlib logger (Django, gunicorn, libraries) ───────────────────┘        │
                                                                             v
        EcsHandler ──> EcsFormatter (reads records as structlog's ProcessorFormatter does)
                         foreign records: structlog's bound contextvars merged in
                         EcsProcessor (ECS fields, request context, trace ids,
                                       exception, redaction, hygiene) ──> nest ──> orjson
                       ──> Pipeline.write: stdout (one write per line) + Elasticsearch shipper

    access log line (the hot path): built as a nested ECS dict directly ──> Pipeline.write

Why structlog's way of formatting rather than python-json-logger: both sides (structlog
events and foreign stdlib records) go through the *same* processor objects, so there is one
field mapping, one redaction step and one renderer to keep right; python-json-logger would
need its own field mapping (rename_fields, static fields, exception formatting) that must be
kept equal to structlog's by hand, and it renders with its own encoder. ``EcsFormatter`` can
also be used on its own in a user's ``LOGGING`` dict.

The access log line skips the stdlib machinery (record creation, handler locks, formatter)
because it is emitted once per request and must cost a few microseconds; it still honours the
level of the ``fleetobs.access`` logger and writes through the same :class:`Pipeline`.

State: :func:`configure` installs one :class:`Pipeline` (settings snapshot, redactor, static
fields, output) and :func:`reset` removes it and restores the handlers it replaced. Handlers
created before :func:`configure` (gunicorn's ``logconfig_dict`` in the master) use
:func:`current`, which builds a pipeline from the settings or the environment on demand.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from types import ModuleType, TracebackType
from typing import IO, Any

from instrumentation import _imports, _safety, conf
from instrumentation.lifecycle import on_reset
from instrumentation.logging import render
from instrumentation.logging import shipper as shipper_module
from instrumentation.logging.ecs import FIELD_NAMES, LEVEL_NUMBERS, LEVELS, StaticFields, nest
from instrumentation.logging.output import BatchedOutput, flush_all
from instrumentation.logging.request_context import add_request_fields
from instrumentation.redaction import (
    MAX_KEY_LENGTH,
    REDACTED,
    SAFE_INT_LIMIT,
    Redactor,
    escape_control,
    safe_str,
    truncate,
)

__all__ = [
    "ACCESS_LOGGER",
    "EcsFormatter",
    "EcsHandler",
    "EcsProcessor",
    "Pipeline",
    "adopt_settings_module",
    "configure",
    "current",
    "gunicorn_logconfig",
    "installed",
    "reset",
    "shutdown",
]

ACCESS_LOGGER = "fleetobs.access"
SHIPPER_THREAD = "fleetobs-log-shipper"
#: Client loggers quieted while shipping (an INFO line per bulk request, a WARNING per failed
#: attempt); the shipper reports outages and recoveries itself, once each.
_QUIETED_WHEN_SHIPPING = ("elastic_transport", "elasticsearch")
#: Stack traces may be longer than other values: this many times ``max_value_length``.
STACK_TRACE_FACTOR = 8

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "_logger",
    "_name",
    "_from_structlog",
}
# Extras that Django attaches to its records: the request object (its repr would leak the query
# string) and the dev server's time string are dropped; the status code is an ECS field.
_DROPPED_EXTRAS = frozenset({"request", "server_time", "color_message"})
_EXTRA_ALIASES = {"status_code": "http.response.status_code"}
_MULTILINE_FIELDS = frozenset({"message", "error.message", "error.stack_trace"})
_SPECIAL_FIELDS = _MULTILINE_FIELDS | _DROPPED_EXTRAS | {"labels", "url.query", "url.full", "url.original"}
#: Keys of an event that are not fields: the message, the exception and stack, and what
#: structlog and the formatter carry along.
_EVENT_KEYS = frozenset(
    {"event", "exc_info", "stack_info", "positional_args", "level", "timestamp", "_record", "_from_structlog"}
)
# Kinds of key (Pipeline.key_kind).
_SKIP, _FIELD, _LABEL, _SECRET, _LABELS = object(), object(), object(), object(), object()
_KEY_KINDS_LIMIT = 4096
#: Fields the pipeline sets on every line: a caller's value for one goes under ``labels`` rather
#: than replacing it (a data stream refuses a line whose @timestamp is not a date).
_PIPELINE_FIELDS = frozenset({"@timestamp", "log.level", "log.logger"})


_EXTRA_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {}
_EXTRA_KEYS_LIMIT = 512


def _extra_keys(attributes: dict[str, Any]) -> tuple[str, ...]:
    """The keys of a record's ``extra=``, in order. Records logged from one place have the same
    attributes: which of them are extras is worked out once per set."""
    keys = tuple(attributes)
    extras = _EXTRA_KEYS.get(keys)
    if extras is None:
        extras = tuple(key for key in keys if key not in _RECORD_ATTRIBUTES)
        if len(_EXTRA_KEYS) < _EXTRA_KEYS_LIMIT:
            _EXTRA_KEYS[keys] = extras
    return extras


def _leaf(redactor: Redactor, value: Any) -> Any:
    """A catalogued field's non-string value, redacted. Every catalogued field is a leaf of the
    index mapping, where an object makes Elasticsearch refuse the whole line: objects (and lists
    holding them) become their JSON text."""
    cleaned = redactor.redact_value(value)
    if isinstance(cleaned, dict) or (
        isinstance(cleaned, list) and any(isinstance(item, dict | list) for item in cleaned)
    ):
        try:
            text = json.dumps(cleaned, default=str, ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError):
            text = safe_str(cleaned)
        return redactor.clean(text)
    return cleaned


_environment_settings: Any = None


def _settings() -> Any:
    """The current settings; outside a configured Django (gunicorn master) the environment."""
    global _environment_settings
    try:
        return conf.get_settings()
    except Exception:  # noqa: BLE001 - Django settings not configured in this process
        if _environment_settings is None:
            _environment_settings = conf.settings_from_environment()
        return _environment_settings


class Pipeline:
    """Everything a line needs, resolved once from a settings snapshot."""

    def __init__(self, settings: Any, *, stream: IO[str] | None = None, shipper: Any = None) -> None:
        self.settings = settings
        self.format = settings.log_format if settings.log_format in {"json", "console"} else "json"
        self.level = logging.getLevelName(str(settings.log_level).upper())
        if not isinstance(self.level, int):
            self.level = logging.INFO
        self.redactor = Redactor(
            settings.redact_keys,
            pii_masking=settings.pii_masking,
            max_value_length=settings.max_value_length,
        )
        self.stack_limit = settings.max_value_length * STACK_TRACE_FACTOR
        self.static = StaticFields(
            settings.service_name, settings.service_version, settings.environment, settings.host_name
        )
        self.dataset = "django.log"
        self.access_enabled = bool(settings.access_log)
        # Probes and scrapes: their successful requests get no access line.
        self.quiet_routes = frozenset(getattr(settings, "metrics_excluded_routes", ()))
        self.sample_rate = float(settings.access_log_sample_rate)
        self.flush_interval = max(0.0, float(getattr(settings, "log_flush_interval", 0.0)))
        self.stream = stream
        self.shipper = shipper
        self._lock = threading.Lock()
        # Catalogue fields whose values need only the common treatment (no query, URL or
        # multi-line handling, not sensitive by name): the usual fields of a line.
        self.plain_fields = frozenset(
            key
            for key in FIELD_NAMES
            if key not in _SPECIAL_FIELDS
            and key not in _PIPELINE_FIELDS
            and not self.redactor.is_sensitive_key(key)
        )
        self._stdout: BatchedOutput | None = None
        #: What each key of an event other than a plain field is (see :meth:`key_kind`).
        self.key_kinds: dict[Any, tuple[object, str]] = {}

    def key_kind(self, key: Any) -> tuple[object, str]:
        """What ``key`` of an event is, and its name as a label: worked out once per key.

        ``_SKIP``: the event's own keys (message, exception, structlog's bookkeeping) and
        extras that are never logged; ``_FIELD``: a catalogued field that needs more than the
        plain treatment (``url.query``, a sensitive name); otherwise a label: ``_LABEL``, its
        value masked as ``_SECRET``, or ``_LABELS`` (a mapping of labels).
        """
        if key in _EVENT_KEYS or key in _DROPPED_EXTRAS:
            known: tuple[object, str] = (_SKIP, "")
        elif key in FIELD_NAMES and key != "labels" and key not in _PIPELINE_FIELDS:
            known = (_FIELD, key)
        else:
            name = key
            if not isinstance(name, str) or len(name) > MAX_KEY_LENGTH or not name.isprintable():
                name = truncate(escape_control(safe_str(name)), MAX_KEY_LENGTH)
            if name == "labels":
                known = (_LABELS, name)
            elif self.redactor.is_sensitive_key(name):
                known = (_SECRET, name)
            else:
                known = (_LABEL, name)
        if len(self.key_kinds) >= _KEY_KINDS_LIMIT:
            self.key_kinds.clear()
        self.key_kinds[key] = known
        return known

    # --- output ----------------------------------------------------------------------------
    def write_event(self, event: dict[str, Any], urgent: bool = False, ship: bool = True) -> None:
        """Render a nested event and write it to the stream and (unless ``ship`` is false) the
        shipper."""
        if self.format == "json":
            data = render.render_json(event)
            self.write(data, data if ship else None, urgent)
        else:
            shipped = render.render_json(event) if ship and self.shipper is not None else None
            self.write(render.render_console(event), shipped, urgent)

    def write(self, data: bytes, json_data: bytes | None, urgent: bool = True) -> None:
        """Write one rendered line; hand the JSON form to the shipper (never blocks on it).

        On the process's standard output, lines that are not ``urgent`` (below ``WARNING``) may
        wait up to ``LOG_FLUSH_INTERVAL`` seconds to be written with others
        (:mod:`instrumentation.logging.output`).
        """
        stream = self.stream if self.stream is not None else sys.stdout
        try:
            if stream is sys.__stdout__ and stream is not None:
                output = self._stdout
                if output is None:
                    output = self._stdout = BatchedOutput(stream.fileno(), self.flush_interval, stream.flush)
                output.write(data, urgent)
            elif stream is not None:
                with self._lock:
                    stream.write(data.decode("utf-8"))
                    stream.flush()
        except (OSError, ValueError):
            pass  # stdout closed or full of errors: nothing sensible to log to
        if json_data is not None and self.shipper is not None:
            self.shipper.put(json_data)

    def emit(self, flat: dict[str, Any], levelno: int, from_shipper: bool = False) -> None:
        """Nest, render and write one flat event (a line at ``WARNING`` or above at once); the
        shipper's own lines are not shipped (they would feed back into its queue)."""
        self.write_event(self.nest_event(flat), levelno >= logging.WARNING, ship=not from_shipper)

    # --- building events ---------------------------------------------------------------------
    def nest_event(self, flat: dict[str, Any]) -> dict[str, Any]:
        """Flat dynamic fields -> the nested event, with the static objects added."""
        return self.static.for_current_process().add_to(nest(flat))

    def exception_fields(self, exc_info: _ExcInfo, flat: dict[str, Any]) -> None:
        """Fill ``error.*`` from an exception, secrets masked."""
        exc_type, exc, tb = exc_info
        flat["error.type"] = error_type(exc_type)
        flat["error.message"] = self.redactor.clean_text(safe_str(exc))
        stack = "".join(traceback.format_exception(exc_type, exc, tb))
        flat["error.stack_trace"] = self.redactor.clean_text(stack, limit=self.stack_limit)

    def field_value(self, key: str, value: Any) -> Any:
        """A catalogued field's value after redaction and hygiene (masked whole under a
        sensitive name)."""
        redactor = self.redactor
        if redactor.is_sensitive_key(key):
            return REDACTED
        if isinstance(value, str):
            if key == "url.query":
                value = redactor.redact_query(value)
            elif key in {"url.full", "url.original"}:
                value = redactor.redact_url(value)
            if key in _MULTILINE_FIELDS:
                return redactor.clean_text(value)
            return redactor.redact_and_clean(value)
        return _leaf(redactor, value)


def error_type(exc_type: type[BaseException]) -> str:
    """``ValueError`` for builtins, ``package.module.Class`` otherwise."""
    module = exc_type.__module__
    if module in {"builtins", "__main__"}:
        return exc_type.__qualname__
    return f"{module}.{exc_type.__qualname__}"


class EcsProcessor:
    """structlog processor: event dict (structlog or foreign stdlib record) -> flat ECS event."""

    def __init__(self, pipeline: Pipeline | None = None) -> None:
        self._pipeline = pipeline

    def __call__(self, logger: Any, method_name: str, event_dict: Any) -> Any:
        pipeline = self._pipeline or current()
        return pipeline_event(pipeline, method_name, event_dict)


def pipeline_event(
    pipeline: Pipeline, method_name: str, ed: dict[str, Any], *, logger_name: str | None = None
) -> dict[str, Any]:
    """Build the flat ECS event for one record; see the module docstring for the order.

    Without a record (``ed`` straight from structlog), the level comes from ``method_name`` and
    the logger is ``logger_name``, or the event's ``logger`` key when that is not given.
    """
    record: logging.LogRecord | None = ed.get("_record")
    from_structlog = ed.get("_from_structlog", False)
    flat: dict[str, Any] = {}
    if record is not None:
        flat["@timestamp"] = render.format_timestamp(record.created)
        flat["log.level"] = LEVELS.get(record.levelno) or record.levelname.lower()
        flat["log.logger"] = record.name
        if not from_structlog:
            attributes = record.__dict__
            for key in _extra_keys(attributes):
                ed.setdefault(_EXTRA_ALIASES.get(key, key), attributes[key])
    else:
        flat["@timestamp"] = render.format_timestamp(time.time())
        level = LEVEL_NUMBERS.get(method_name, logging.INFO)
        flat["log.level"] = LEVELS.get(level, method_name)
        flat["log.logger"] = logger_name if logger_name is not None else str(ed.pop("logger", ""))
    logger_name = flat["log.logger"]
    flat["event.dataset"] = logger_name if logger_name.startswith("gunicorn.") else pipeline.dataset
    request_context = add_request_fields(flat, record)

    message = ed.get("event", "")
    exc_info = ed.get("exc_info")
    stack_info = ed.get("stack_info")

    redactor = pipeline.redactor
    redact_and_clean = redactor.redact_and_clean
    plain = pipeline.plain_fields
    key_kinds = pipeline.key_kinds
    labels: dict[str, Any] | None = None
    for key, value in ed.items():
        if key in plain:  # the common case, without the checks below
            kind = type(value)
            if kind is str:
                flat[key] = redact_and_clean(value)
            elif (kind is int and -SAFE_INT_LIMIT < value < SAFE_INT_LIMIT) or kind is float or value is None:
                flat[key] = value  # what redact_value returns for them
            else:
                flat[key] = _leaf(redactor, value)
            continue
        known = key_kinds.get(key)
        if known is None:
            known = pipeline.key_kind(key)
        key_kind, name = known
        if key_kind is _SKIP:
            continue
        if key_kind is _FIELD:
            flat[key] = pipeline.field_value(key, value)
            continue
        if labels is None:
            labels = {}
        if key_kind is _SECRET:
            labels[name] = REDACTED
        elif key_kind is _LABELS and isinstance(value, Mapping):  # its keys become labels
            labels.update(redactor.redact_mapping(value))
        else:
            labels[name] = redactor.redact_value(value)
    if labels:
        flat["labels"] = labels

    text = message if isinstance(message, str) else safe_str(message)
    if request_context is not None and request_context.raw_path is not None:
        text = request_context.mask_in(text)  # a credential in the path, quoted in the message
    flat["message"] = redactor.clean_text(text)
    resolved = _resolve_exc_info(exc_info)
    if resolved is not None:
        pipeline.exception_fields(resolved, flat)
    elif stack_info:
        flat["error.stack_trace"] = redactor.clean_text(str(stack_info), limit=pipeline.stack_limit)
    return flat


def _resolve_exc_info(exc_info: Any) -> _ExcInfo | None:
    if not exc_info:
        return None
    if isinstance(exc_info, BaseException):
        return type(exc_info), exc_info, exc_info.__traceback__
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and exc_info[0] is not None:
        return exc_info
    current_exc = sys.exc_info()
    if current_exc[0] is None or current_exc[1] is None:
        return None
    return current_exc[0], current_exc[1], current_exc[2]


def _capture_exc_info(logger: Any, method_name: str, event_dict: Any) -> Any:
    """``log.exception(...)`` / ``exc_info=True``: capture the exception while it is current."""
    if event_dict.get("exc_info") is True:
        event_dict["exc_info"] = sys.exc_info()
    return event_dict


class EcsFormatter(logging.Formatter):
    """Formats any LogRecord (structlog's or not) as one ECS JSON line (or a console line).

    It reads records the way structlog's ``ProcessorFormatter`` does: a record from structlog
    (``wrap_for_formatter``) carries its event dict; a foreign record gets one built from the
    record, with the keys bound by ``structlog.contextvars.bind_contextvars`` merged in; both
    then go through the same :class:`EcsProcessor` and rendering. It needs no structlog object
    itself, so a process that never imports structlog does not pay for importing it.

    Usable on its own in a ``LOGGING`` dict: ``{"()": "instrumentation.logging.EcsFormatter"}``.
    """

    def __init__(self, pipeline: Pipeline | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ecs_processor = EcsProcessor(pipeline)
        self._pipeline = pipeline

    def flat_event(self, record: logging.LogRecord) -> dict[str, Any]:
        """The flat ECS event of ``record`` (dotted keys)."""
        msg = record.msg
        ed: dict[str, Any]
        if isinstance(msg, dict) and getattr(record, "_logger", None) is not None:
            method_name = getattr(record, "_name", record.levelname.lower())
            ed = dict(msg)
            ed["_record"] = record
            ed["_from_structlog"] = True
        else:
            method_name = record.levelname.lower()
            ed = {"event": record.getMessage(), "_record": record, "_from_structlog": False}
            if record.exc_info:
                ed["exc_info"] = record.exc_info
            if record.stack_info:
                ed["stack_info"] = record.stack_info
            # Keys bound with structlog's contextvars; none can be bound before it is imported.
            bound = sys.modules.get("structlog.contextvars")
            if bound is not None:
                ed = bound.merge_contextvars(None, method_name, ed)
        flat: dict[str, Any] = self._ecs_processor(None, method_name, ed)
        return flat

    def ecs_event(self, record: logging.LogRecord) -> dict[str, Any]:
        """The nested ECS event of ``record``."""
        return (self._pipeline or current()).nest_event(self.flat_event(record))

    def format(self, record: logging.LogRecord) -> str:
        pipeline = self._pipeline or current()
        event = self.ecs_event(record)
        if pipeline.format == "console":
            return render.render_console(event).decode("utf-8").rstrip("\n")
        return render.render_json(event).decode("utf-8").rstrip("\n")


class EcsHandler(logging.Handler):
    """Writes records through the current :class:`Pipeline` (stdout and, if set, Elasticsearch)."""

    def __init__(self, level: int | str = logging.NOTSET, pipeline: Pipeline | None = None) -> None:
        super().__init__(level)
        self._pipeline = pipeline
        self.setFormatter(EcsFormatter(pipeline))

    def handle(self, record: logging.LogRecord) -> Any:
        """``Handler.handle`` without taking the handler's lock around :meth:`emit`: nothing
        :meth:`emit` uses needs it (the output serialises its own writes), so a thread that
        loses the interpreter while formatting a line does not hold up every other thread's."""
        passed: Any = self.filter(record) if self.filters else True
        if isinstance(passed, logging.LogRecord):  # Python 3.12: a filter may replace the record
            record = passed
        if passed:
            self.emit(record)
        return passed

    def emit(self, record: logging.LogRecord) -> None:
        try:
            pipeline = self._pipeline or current()
            formatter = self.formatter
            if not isinstance(formatter, EcsFormatter):
                # Someone set another formatter on our handler: honour it, stdout only.
                pipeline.write((self.format(record) + "\n").encode("utf-8", "backslashreplace"), None)
                return
            pipeline.emit(formatter.flat_event(record), record.levelno, record.threadName == SHIPPER_THREAD)
        except RecursionError:
            raise
        except Exception as exc:  # noqa: BLE001 - never lose the line silently
            _emit_fallback(record, exc)


_CALL_HANDLERS = logging.Logger.callHandlers
_HANDLE = logging.Logger.handle
_MAKE_RECORD = logging.Logger.makeRecord


def _sole_handler(logger: logging.Logger, levelno: int) -> EcsHandler | None:
    """The :class:`EcsHandler` a record of ``logger`` at ``levelno`` would reach and nothing
    else would, if so: no other handler on the way up, no filter, no replaced record factory,
    record making or handler dispatch (Sentry's logging integration replaces
    ``Logger.callHandlers``), and the logger enabled for the level. A logger class that only
    finds callers its own way (structlog's) changes nothing a line of this pipeline shows.
    ``None`` whenever the standard library could do more with the record than hand it to that
    handler."""
    kind = type(logger)
    if (
        kind.callHandlers is not _CALL_HANDLERS
        or kind.handle is not _HANDLE
        or kind.makeRecord is not _MAKE_RECORD
        or logger.filters
        or logger.disabled
        or not logger.isEnabledFor(levelno)
        or logging.getLogRecordFactory() is not logging.LogRecord
    ):
        return None
    found: EcsHandler | None = None
    node: logging.Logger | None = logger
    while node is not None:
        for handler in node.handlers:
            if levelno >= handler.level:
                if found is not None or type(handler) is not EcsHandler or handler.filters:
                    return None
                found = handler
        if not node.propagate:
            break
        node = node.parent
    if found is None or type(found.formatter) is not EcsFormatter:
        return None
    return found


class StructlogLogger:
    """The logger structlog's bound loggers call (the pipeline's ``logger_factory``).

    An event goes through the standard library logger of the same name, as
    ``structlog.stdlib.LoggerFactory`` would do, unless that logger would hand it to an
    :class:`EcsHandler` and to nothing else (:func:`_sole_handler`): then the handler's
    pipeline writes it at once, the same line without the record, the handler lookup and
    the locks (about half the cost of a structlog line). Any other handler, filter or
    patched dispatch on the way, and the event takes the standard library's way. Everything
    else (``name``, ``isEnabledFor``, ``handlers``) is the standard library logger's.
    """

    __slots__ = ("_logger",)

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)

    def __repr__(self) -> str:
        return f"<StructlogLogger {self._logger.name!r}>"

    def _log(self, method: str, levelno: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        logger = self._logger
        if len(args) == 1 and type(args[0]) is dict:
            handler = _sole_handler(logger, levelno)
            if handler is not None:
                try:
                    pipeline = handler._pipeline or current()
                    flat = pipeline_event(pipeline, method, args[0], logger_name=logger.name)
                    pipeline.emit(flat, levelno, threading.current_thread().name == SHIPPER_THREAD)
                    return None
                except RecursionError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the standard library's way still writes it
                    _safety.internal_error(exc, "logging.structlog")
        return getattr(logger, method)(*args, **kwargs)

    def debug(self, *args: Any, **kwargs: Any) -> Any:
        return self._log("debug", logging.DEBUG, args, kwargs)

    def info(self, *args: Any, **kwargs: Any) -> Any:
        return self._log("info", logging.INFO, args, kwargs)

    def warning(self, *args: Any, **kwargs: Any) -> Any:
        return self._log("warning", logging.WARNING, args, kwargs)

    def error(self, *args: Any, **kwargs: Any) -> Any:
        return self._log("error", logging.ERROR, args, kwargs)

    def critical(self, *args: Any, **kwargs: Any) -> Any:
        return self._log("critical", logging.CRITICAL, args, kwargs)

    warn = warning
    fatal = critical


class StructlogLoggerFactory:
    """``logger_factory`` for structlog: a :class:`StructlogLogger` around the standard library
    logger ``structlog.stdlib.LoggerFactory`` would return."""

    def __init__(self, stdlib_factory: Any) -> None:
        self._stdlib_factory = stdlib_factory

    def __call__(self, *args: Any) -> StructlogLogger:
        return StructlogLogger(self._stdlib_factory(*args))


def _emit_fallback(record: logging.LogRecord, exc: Exception) -> None:
    """Formatting failed: still write one valid line, and let tests see the bug."""
    pipeline = current()
    event = pipeline.nest_event(
        {
            "@timestamp": render.format_timestamp(record.created),
            "log.level": LEVELS.get(record.levelno, "error"),
            "log.logger": record.name,
            "message": pipeline.redactor.clean_text(safe_str(record.msg)),
            "event.dataset": pipeline.dataset,
            "error.type": error_type(type(exc)),
            "error.message": pipeline.redactor.clean_text(safe_str(exc)),
        }
    )
    pipeline.write(render.render_json(event), render.render_json(event))
    if _safety.RAISE_INTERNAL_ERRORS:
        raise exc


# --- global state ------------------------------------------------------------------------------
_installed: Pipeline | None = None
_on_demand: Pipeline | None = None
_on_demand_source: object | None = None
_undo: list[tuple[logging.Logger, list[logging.Handler], list[logging.Handler], int | None]] = []
_captured_warnings = False


def current() -> Pipeline:
    """The configured pipeline, or one built on demand from the current settings."""
    global _on_demand, _on_demand_source
    if _installed is not None:
        return _installed
    settings = _settings()
    if _on_demand is None or settings is not _on_demand_source:
        _on_demand = Pipeline(settings)
        _on_demand_source = settings
    return _on_demand


def installed() -> Pipeline | None:
    """The pipeline :func:`configure` installed, or ``None``."""
    return _installed


def _is_console_handler(handler: logging.Handler) -> bool:
    if isinstance(handler, (EcsHandler, logging.FileHandler)):
        return False
    if not isinstance(handler, logging.StreamHandler):
        return False
    stream = handler.stream
    return stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)


def configure(*, stream: IO[str] | None = None) -> Pipeline:
    """Install the pipeline for structlog and the standard library (idempotent).

    The root logger gets one :class:`EcsHandler` at ``LOG_LEVEL``. Loggers that kept their own
    console handlers (Django's ``django`` and ``django.server``, gunicorn's when started
    without our ``logconfig_dict``) lose those: propagating loggers reach the root handler,
    non-propagating ones get an :class:`EcsHandler` of their own. :func:`reset` puts everything
    back. ``stream`` overrides standard output (tests).
    """
    global _installed, _captured_warnings

    if _installed is not None:
        reset()
    settings = _settings()
    ship = shipper_module.from_settings(settings)
    pipeline = Pipeline(settings, stream=stream, shipper=ship)
    _installed = pipeline

    root = logging.getLogger()
    kept_root = [h for h in root.handlers if not _is_console_handler(h) and not isinstance(h, EcsHandler)]
    _replace_handlers(root, [*kept_root, EcsHandler()], pipeline.level)
    for name, candidate in list(logging.root.manager.loggerDict.items()):
        if not isinstance(candidate, logging.Logger):
            continue
        consoles = [h for h in candidate.handlers if _is_console_handler(h)]
        if not consoles:
            continue
        kept = [h for h in candidate.handlers if h not in consoles]
        if not candidate.propagate:
            kept.append(EcsHandler())
        _replace_handlers(candidate, kept, None, name=name)
    if ship is not None:
        for name in _QUIETED_WHEN_SHIPPING:
            client_logger = logging.getLogger(name)
            if client_logger.getEffectiveLevel() < logging.ERROR:
                _undo.append((client_logger, [], [], client_logger.level))
                client_logger.setLevel(logging.ERROR)
    if not _captured_warnings:
        logging.captureWarnings(True)
        _captured_warnings = True

    _imports.after_import("structlog", _configure_structlog)
    return pipeline


def _configure_structlog(structlog: ModuleType) -> None:
    """Send structlog's events to the installed pipeline: through the standard library, or
    straight to the pipeline when the standard library would do nothing more
    (:class:`StructlogLogger`).

    Run when ``structlog`` is imported (at :func:`configure` when it already is): a process
    that never imports structlog never loads it.
    """
    pipeline = _installed
    if pipeline is None:
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _capture_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=StructlogLoggerFactory(structlog.stdlib.LoggerFactory()),
        wrapper_class=structlog.make_filtering_bound_logger(pipeline.level),
        cache_logger_on_first_use=True,
    )


def _replace_handlers(
    logger: logging.Logger, handlers: list[logging.Handler], level: int | None, *, name: str = ""
) -> None:
    previous = list(logger.handlers)
    _undo.append((logger, previous, handlers, logger.level if level is not None else None))
    for handler in previous:
        logger.removeHandler(handler)
    for handler in handlers:
        logger.addHandler(handler)
    if level is not None:
        logger.setLevel(level)


def shutdown(timeout: float = 5.0) -> None:
    """Write pending lines and flush the shipper of the installed pipeline (worker exit)."""
    flush_all()
    pipeline = _installed
    if pipeline is not None and pipeline.shipper is not None:
        pipeline.shipper.close(timeout)


@on_reset
def reset() -> None:
    """Stop the shipper, restore replaced handlers and structlog's defaults, forget state."""
    global _installed, _on_demand, _on_demand_source, _captured_warnings, _environment_settings
    pipeline = _installed
    flush_all()
    _environment_settings = None
    _installed = None
    _on_demand = None
    _on_demand_source = None
    if pipeline is not None and pipeline.shipper is not None:
        pipeline.shipper.close(0.5)
    while _undo:
        logger, previous, added, level = _undo.pop()
        for handler in added:
            logger.removeHandler(handler)
            if isinstance(handler, EcsHandler):
                handler.close()
        for handler in previous:
            logger.addHandler(handler)
        if level is not None:
            logger.setLevel(level)
    if _captured_warnings:
        logging.captureWarnings(False)
        _captured_warnings = False
    _imports.cancel("structlog", _configure_structlog)
    structlog = sys.modules.get("structlog")
    if structlog is not None:
        structlog.reset_defaults()
    render.reset()


def adopt_settings_module(app_uri: str | None) -> str | None:
    """Point a process that has not loaded Django yet (the gunicorn master) at the project's
    settings, so its lines carry the settings' ``SERVICE_NAME`` rather than the default.

    When ``DJANGO_SETTINGS_MODULE`` is unset, the WSGI module of ``app_uri``
    (``"project.wsgi:application"``) is read, not imported, for the constant its
    ``os.environ.setdefault("DJANGO_SETTINGS_MODULE", "...")`` sets (Django's project
    template); that value is set here, as the module itself would in each worker. Returns the
    settings module in effect, or ``None`` when none is known (lines then name the service from
    ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` or the default).
    """
    global _environment_settings
    current_module = os.environ.get("DJANGO_SETTINGS_MODULE")
    if current_module:
        return current_module
    found = _settings_module_in(app_uri) if app_uri else None
    if found:
        os.environ["DJANGO_SETTINGS_MODULE"] = found
        _environment_settings = None
    return found


def _settings_module_in(app_uri: str) -> str | None:
    import ast
    import importlib.util
    from pathlib import Path

    module_name = app_uri.split(":", 1)[0].strip()
    try:
        spec = importlib.util.find_spec(module_name)
        origin = spec.origin if spec is not None else None
        if not origin or not origin.endswith(".py"):
            return None
        tree = ast.parse(Path(origin).read_text(encoding="utf-8"), origin)
    except (ImportError, OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setdefault"
            and len(node.args) == 2
            and all(isinstance(arg, ast.Constant) and isinstance(arg.value, str) for arg in node.args)
            and node.args[0].value == "DJANGO_SETTINGS_MODULE"  # type: ignore[attr-defined]
        ):
            value: str = node.args[1].value  # type: ignore[attr-defined]
            return value
    return None


def gunicorn_logconfig() -> dict[str, Any]:
    """``logconfig_dict`` for gunicorn: its error and access loggers write the same JSON.

    Resolved lazily by the handlers, so it is safe to call in the gunicorn master before
    Django is set up; the level follows ``FLEETOBS_LOG_LEVEL``.
    """
    level = str(os.environ.get("FLEETOBS_LOG_LEVEL", "INFO")).upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        level = "INFO"
    handler = {"class": "instrumentation.logging.pipeline.EcsHandler"}
    access_level = "INFO" if os.environ.get("FLEETOBS_GUNICORN_ACCESS_LOG", "0") == "1" else "WARNING"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": level, "handlers": ["fleetobs"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["fleetobs"], "propagate": False},
            # The middleware writes the access line (with route, trace id, user); gunicorn's
            # would repeat it without them, so it is off unless asked for.
            "gunicorn.access": {"level": access_level, "handlers": ["fleetobs"], "propagate": False},
        },
        "handlers": {"fleetobs": handler},
        "formatters": {},
    }
