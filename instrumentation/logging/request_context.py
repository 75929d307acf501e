"""The request (or background task) context every log line carries, held in context variables.

Kept apart from :mod:`instrumentation.logging.request_lines` (which writes the access line) so the
pipeline can read it without importing the request side. A background task's lines carry
``task.name`` and ``task.id`` (bound by the Celery integration between ``task_prerun`` and
``task_postrun``).

A line may also name the request it is about without that request's context being bound:
Django logs a returned (or ``Http404``) 4xx/5xx response on ``django.request`` after the
whole middleware chain, ours included, has returned, with the request in
``extra={"request": request}``. :func:`~instrumentation.logging.request_lines.begin_request` leaves
the context on the request object too (:data:`REQUEST_ATTRIBUTE`), and
:func:`add_request_fields` reads it from the record's request first.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from instrumentation import tracing

__all__ = [
    "REQUEST_ATTRIBUTE",
    "RequestContext",
    "add_request_fields",
    "begin_task",
    "context_of",
    "current",
    "current_ids",
    "current_task",
    "finish_task",
]

#: Attribute of the ``HttpRequest`` holding its :class:`RequestContext`.
REQUEST_ATTRIBUTE = "_fleetobs_log_context"
#: Longest task name or id a line carries (Celery's are short; a hostile one is cut).
MAX_TASK_FIELD = 256


class RequestContext:
    """What every line logged during one request carries."""

    __slots__ = ("_flat", "method", "path", "query", "raw_path", "request_id", "span_id", "trace_id")

    def __init__(
        self, request_id: str, method: str, path: str, query: str, ids: tuple[str, str] | None
    ) -> None:
        self.request_id = request_id
        self.method = method
        self.path = path
        self.query = query
        self.trace_id = ids[0] if ids else None
        self.span_id = ids[1] if ids else None
        #: The path as received, once credentials in it were masked in ``path``: a message that
        #: quotes it (Django's ``Forbidden: /reset/...``) gets ``path`` in its place.
        self.raw_path: str | None = None
        self._flat: dict[str, Any] | None = None

    def mask_in(self, text: str) -> str:
        """``text`` with the received path replaced by the masked one (when it was masked)."""
        raw = self.raw_path
        if raw is None or raw not in text:
            return text
        return text.replace(raw, self.path)

    @property
    def flat(self) -> dict[str, Any]:
        """The fields as flat ECS keys (built when a line other than the access line needs them)."""
        flat = self._flat
        if flat is None:
            flat = {
                "http.request.id": self.request_id,
                "http.request.method": self.method,
                "url.path": self.path,
            }
            if self.trace_id is not None:
                flat["trace.id"] = self.trace_id
                flat["span.id"] = self.span_id
                flat["transaction.id"] = self.span_id
            self._flat = flat
        return flat


current: ContextVar[RequestContext | None] = ContextVar("fleetobs_request", default=None)
#: ``{"task.name": ..., "task.id": ...}`` while a background task runs.
current_task: ContextVar[dict[str, str] | None] = ContextVar("fleetobs_task", default=None)


def begin_task(name: str, task_id: str | None) -> Token[dict[str, str] | None]:
    """Bind ``task.name`` and ``task.id`` for every line logged until :func:`finish_task`."""
    fields = {"task.name": str(name)[:MAX_TASK_FIELD]}
    if task_id:
        fields["task.id"] = str(task_id)[:MAX_TASK_FIELD]
    return current_task.set(fields)


def finish_task(token: Token[dict[str, str] | None] | None, task_id: str | None = None) -> None:
    """Unbind the task fields bound by :func:`begin_task`.

    Without ``token`` (the task's bookkeeping was lost), unbind them if they are task ``task_id``'s.
    """
    if token is None:
        bound = current_task.get()
        if bound is not None and task_id and bound.get("task.id") == str(task_id)[:MAX_TASK_FIELD]:
            current_task.set(None)
        return
    try:
        current_task.reset(token)
    except ValueError:  # ended in another context than it began: just unbind here
        current_task.set(None)


def current_ids() -> tuple[str, str] | None:
    """The active span's ids (:func:`instrumentation.tracing.current_ids` never raises)."""
    return tracing.current_ids()


def context_of(record: Any) -> RequestContext | None:
    """The context of the request a record names in ``extra={"request": ...}`` (Django's own
    ``django.request`` and ``django.security`` lines), if the middleware saw that request."""
    request = getattr(record, "request", None)
    if request is None:
        return None
    ctx = getattr(request, REQUEST_ATTRIBUTE, None)
    return ctx if isinstance(ctx, RequestContext) else None


def add_request_fields(flat: dict[str, Any], record: Any = None) -> RequestContext | None:
    """Add the request (or task) context and the active span's ids to a flat event.

    ``record``: the ``LogRecord`` being formatted; the request it names wins over the bound
    context. The active span's ids replace the request's when the span is in the request's
    trace (a database query's span) or the request has none; a span of another trace active
    after the request ended says nothing about the request this line is about. Returns the
    request's context, if any.
    """
    ctx = context_of(record) if record is not None else None
    if ctx is None:
        ctx = current.get()
    if ctx is not None:
        flat.update(ctx.flat)
    task = current_task.get()
    if task is not None:
        flat.update(task)
    ids = tracing.current_ids()
    if ids is not None and (ctx is None or ctx.trace_id is None or ctx.trace_id == ids[0]):
        flat["trace.id"] = ids[0]
        flat["span.id"] = ids[1]
    return ctx
