"""Celery: task metrics, and traces that follow a task from the request that queued it.

``instrument()`` connects to Celery's signals (``uninstrument()`` disconnects); without Celery
installed it returns ``False`` and does nothing. The Django app calls it once the process
imports Celery (in ``ready()`` when it already has, otherwise on that import), so web processes
(which publish) and workers that set up Django (which execute) are both covered; calling it
again is harmless::

    before_task_publish   PRODUCER span "publish {task}" under the current span; the W3C context
                          (traceparent, tracestate, baggage) and the publish time go into the
                          message headers
    after_task_publish    end the PRODUCER span; fleetobs_task_published{task_name} += 1
    task_prerun           CONSUMER span "process {task}", child of the context in the headers
                          (or of the current span when the task runs eagerly), made current so
                          the task's logs carry its trace id; task.name and task.id bound for
                          the task's log lines; fleetobs_task_queue_wait_seconds
    task_failure          exception event and error status on the CONSUMER span
    task_postrun          end the span, unbind the log fields;
                          fleetobs_task_executions{task_state=success|failure|retry}
                          and fleetobs_task_duration_seconds
    worker_process_shutdown / worker_shutdown   flush queued spans

The trace id is shared whatever the sampling decision: an unsampled request still propagates
its trace id, so the task's logs and the request's logs can be joined.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import datetime
from typing import Any

from opentelemetry.trace import SpanKind

from instrumentation import logging as fleet_logging
from instrumentation import metrics, tracing
from instrumentation._safety import internal_error
from instrumentation.lifecycle import on_reset
from instrumentation.tracing import children, propagation, provider
from instrumentation.tracing.spans import exception_attributes

logger = logging.getLogger("fleetobs.celery")

PUBLISHED_AT_HEADER = "fleetobs_published_at"
_CONTEXT_HEADERS = ("traceparent", "tracestate", "baggage")
_MAX_IN_FLIGHT = 10_000
_STATES = {"SUCCESS": "success", "RETRY": "retry"}

#: task id -> PRODUCER span handle, between before_ and after_task_publish.
_publishing: dict[str, Any] = {}
#: task id -> (CONSUMER span handle or None, start perf_counter, log fields token or None),
#: between prerun and postrun.
_running: dict[str, tuple[Any, float, Any]] = {}
_connected: list[tuple[Any, Any, str]] = []


class _Off:
    """Stands in for a metric child while metrics are off."""

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


_OFF = _Off()


def _count(name: str, *labels: str) -> Any:
    if not metrics.enabled():
        return _OFF
    return metrics.get(name).labels(*labels)


def _tracing_state() -> Any:
    return provider.ensure()


def _task_name(sender: Any, headers: dict[str, Any] | None) -> str:
    if isinstance(sender, str):
        return sender
    name = getattr(sender, "name", None)
    if name:
        return str(name)
    return str((headers or {}).get("task") or "unknown")


def _on_before_publish(
    sender: Any = None, headers: dict[str, Any] | None = None, routing_key: str = "", **kwargs: Any
) -> None:
    try:
        if headers is None:
            return
        task_name = _task_name(sender, headers)
        task_id = str(headers.get("id") or "")
        state = _tracing_state()
        if state is not None:
            from opentelemetry import trace

            parent = trace.get_current_span().get_span_context()
            handle = children.start_with_parent(
                state,
                f"publish {task_name}",
                {
                    "messaging.system": "celery",
                    "messaging.operation.type": "send",
                    "messaging.operation.name": "publish",
                    "messaging.destination.name": routing_key or "",
                    "messaging.message.id": task_id,
                    "celery.task.name": task_name,
                },
                SpanKind.PRODUCER,
                parent if parent.is_valid else None,
                activate=False,  # a publish that raises never reaches after_task_publish
            )
            carrier: dict[str, Any] = {}
            propagation.inject(carrier, trace.set_span_in_context(handle[0]))
            headers.update(carrier)
            if len(_publishing) >= _MAX_IN_FLIGHT:
                _publishing.clear()
            _publishing[task_id] = handle
        headers[PUBLISHED_AT_HEADER] = time.time()
    except Exception as exc:  # noqa: BLE001 - publishing must work whatever telemetry does
        internal_error(exc, "celery.before_publish")


def _on_after_publish(sender: Any = None, headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    try:
        task_id = str((headers or {}).get("id") or "")
        handle = _publishing.pop(task_id, None)
        if handle is not None:
            children.end_child(handle)
        _count("fleetobs_task_published", _task_name(sender, headers)).inc()
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "celery.after_publish")


def _request_value(request: Any, key: str) -> Any:
    value = getattr(request, key, None)
    if value is None:
        headers = getattr(request, "headers", None)
        if isinstance(headers, dict):
            value = headers.get(key)
    return value


def _eta_timestamp(eta: Any) -> float | None:
    if isinstance(eta, datetime):
        return eta.timestamp()
    if isinstance(eta, str):
        try:
            return datetime.fromisoformat(eta).timestamp()
        except ValueError:
            return None
    return None


def _bind_task_logs(task_name: str, task_id: str | None) -> Any:
    try:
        return fleet_logging.begin_task(task_name, task_id)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "celery.logs")
        return None


def _unbind_task_logs(token: Any, task_id: str | None = None) -> None:
    try:
        fleet_logging.finish_task(token, task_id)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "celery.logs")


def _on_prerun(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    log_token = None
    try:
        request = getattr(task, "request", None)
        task_name = _task_name(task, None)
        started = time.perf_counter()
        log_token = _bind_task_logs(task_name, task_id)
        published = _request_value(request, PUBLISHED_AT_HEADER)
        if isinstance(published, int | float):
            ready = max(float(published), _eta_timestamp(getattr(request, "eta", None)) or 0.0)
            _count("fleetobs_task_queue_wait_seconds", task_name).observe(max(0.0, time.time() - ready))
        handle = None
        state = _tracing_state()
        if state is not None:
            from opentelemetry import trace

            meta = {}
            for key in _CONTEXT_HEADERS:
                value = _request_value(request, key)
                if isinstance(value, str):
                    meta["HTTP_" + key.upper()] = value
            parent, base = propagation.extract_w3c(meta)
            if parent is None:  # eager execution, or published by an uninstrumented client
                current = trace.get_current_span().get_span_context()
                parent = current if current.is_valid else None
            delivery = getattr(request, "delivery_info", None) or {}
            attributes = {
                "messaging.system": "celery",
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.destination.name": str(delivery.get("routing_key") or ""),
                "messaging.message.id": str(task_id or ""),
                "celery.task.name": task_name,
                "celery.task.retries": int(getattr(request, "retries", 0) or 0),
            }
            handle = children.start_with_parent(
                state, f"process {task_name}", attributes, SpanKind.CONSUMER, parent
            )
            if base is not None:
                handle = _with_baggage(handle, base)
        if len(_running) >= _MAX_IN_FLIGHT:
            _running.clear()
        _running[str(task_id)] = (handle, started, log_token)
    except Exception as exc:  # noqa: BLE001
        _unbind_task_logs(log_token, task_id)
        internal_error(exc, "celery.prerun")


def _with_baggage(handle: Any, base: Any) -> Any:
    """Re-activate the CONSUMER span in a context that also carries the message's baggage."""
    from opentelemetry import context, trace

    span, token = handle
    context.detach(token)
    return span, context.attach(trace.set_span_in_context(span, base))


def _mark_failed(span: Any, exception: BaseException | None) -> None:
    from opentelemetry.trace import StatusCode

    status = getattr(span, "status", None)
    if status is not None and status.status_code is StatusCode.ERROR:
        return  # task_failure already recorded it
    span.set_status(StatusCode.ERROR)
    if exception is not None:
        span.set_attribute("error.type", type(exception).__qualname__)
        span.add_event("exception", exception_attributes(exception))


def _on_failure(task_id: str | None = None, exception: BaseException | None = None, **kwargs: Any) -> None:
    try:
        entry = _running.get(str(task_id))
        if entry is not None and entry[0] is not None:
            _mark_failed(entry[0][0], exception)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "celery.failure")


def _on_postrun(
    task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any
) -> None:
    entry = _running.pop(str(task_id), None)
    # First, so that whatever fails below, the lines after the task are not the task's.
    _unbind_task_logs(entry[2] if entry is not None else None, task_id)
    outcome = _STATES.get(state or "", "failure")
    try:
        task_name = _task_name(task, None)
        if entry is not None:
            # Duration before the execution count: a reader that sees the execution has
            # its duration too (within one metrics file set, not across a scrape's reads).
            _count("fleetobs_task_duration_seconds", task_name).observe(time.perf_counter() - entry[1])
        _count("fleetobs_task_executions", task_name, outcome).inc()
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "celery.postrun.metrics")
    handle = entry[0] if entry is not None else None
    if handle is None:
        return
    try:
        span = handle[0]
        if outcome == "failure" and span.is_recording():
            # Eager tasks that propagate their exception never send task_failure; the
            # exception is still in flight while postrun runs.
            retval = kwargs.get("retval")
            _mark_failed(span, retval if isinstance(retval, BaseException) else sys.exc_info()[1])
        span.set_attribute("celery.task.state", outcome)
        children.end_child(handle)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "celery.postrun")


def _on_worker_exit(**kwargs: Any) -> None:
    tracing.shutdown()


def instrument() -> bool:
    """Connect to Celery's signals; ``False`` (and nothing done) when Celery is not installed."""
    try:
        from celery import signals
    except ImportError:
        return False
    if _connected:
        return True
    wiring = (
        (signals.before_task_publish, _on_before_publish),
        (signals.after_task_publish, _on_after_publish),
        (signals.task_prerun, _on_prerun),
        (signals.task_failure, _on_failure),
        (signals.task_postrun, _on_postrun),
        (signals.worker_process_shutdown, _on_worker_exit),
        (signals.worker_shutdown, _on_worker_exit),
    )
    for signal, receiver in wiring:
        uid = f"fleetobs.{receiver.__name__}"
        signal.connect(receiver, weak=False, dispatch_uid=uid)
        _connected.append((signal, receiver, uid))
    return True


def instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return bool(_connected)


def uninstrument() -> None:
    """Disconnect everything :func:`instrument` connected and forget in-flight tasks."""
    for signal, receiver, uid in _connected:
        signal.disconnect(receiver, dispatch_uid=uid)
    _connected.clear()
    _publishing.clear()
    _running.clear()


@on_reset
def reset() -> None:
    uninstrument()
