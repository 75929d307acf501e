"""Direct shipping to Elasticsearch: a bounded queue drained by one background thread.

::

    request thread ──put(line)──> [ deque, bounded by count and bytes ] ──> sender thread
         (never waits: a full queue drops the line and counts it)              │
                                                                               v
                      streaming_bulk (official client, ``create`` into the data stream)
                           │ per document: 2xx exported · 429/5xx retried · other 4xx rejected
                           │ whole request: connection error, timeout, 429, 5xx -> retried
                           v
                 exponential backoff with jitter (initial_backoff .. max_backoff)

Every line gets a document id when it is queued (a per-process random prefix and a counter), so
a retry of a batch whose answer was lost cannot store a line twice: Elasticsearch answers 409 for
the ids it already has, which counts as delivered (within one backing index: a rollover between an
attempt and its retry can let a duplicate through). The sender keeps retrying a batch until it is
delivered, so an outage loses nothing as long as
the queue (which counts the batch in flight) has room; beyond that, new lines are dropped and
counted in ``fleetobs_telemetry_dropped{signal="logs",reason="queue_full"}``. Documents the
server refuses for good (mapping errors) are dropped with ``reason="rejected"``; lines still
queued when :meth:`Shipper.close` gives up are dropped with ``reason="shutdown"``. Delivered
documents count in ``fleetobs_telemetry_exported{signal="logs"}`` and every failed attempt in
``fleetobs_telemetry_export_failures{signal="logs"}``.

Forking servers: the thread starts on the first :meth:`Shipper.put` in each process, and an
``os.register_at_fork`` hook gives a forked child a fresh lock, an empty queue and no thread
(the parent still owns and sends what it had queued).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from instrumentation import _process, metrics
from instrumentation.lifecycle import on_reset

__all__ = ["Shipper", "from_settings", "reset"]

logger = logging.getLogger("fleetobs.shipper")
SIGNAL = "logs"
#: Lines logged by this thread are printed but never shipped (no feedback loop).
THREAD_NAME = "fleetobs-log-shipper"
#: Per-document statuses worth retrying. 401 and 403 too: a wrong or expired API key, a missing
#: privilege or an index block answers every document so, and it is an outage an operator ends
#: (the lines wait in the bounded buffer, the failures are counted), not a refusal of the lines.
_RETRYABLE_STATUS = frozenset({401, 403, 408, 429, 500, 502, 503, 504})

_shippers: weakref.WeakSet[Shipper] = weakref.WeakSet()
_fork_hook_registered = False


def _count(name: str, amount: int, **labels: str) -> None:
    if amount <= 0:
        return

    metrics.count(name, labels, amount)


def _after_fork_in_child() -> None:
    for shipper in list(_shippers):
        shipper._after_fork()


#: One queued line: its document id (stable across retries) and its JSON.
Doc = tuple[str, bytes]


def _expand(doc: Any) -> tuple[dict[str, Any], bytes]:
    doc_id, data = doc
    if data.endswith(b"\n"):
        data = data[:-1]
    return {"create": {"_id": doc_id}}, data


class Shipper:
    """Ships rendered JSON lines to an Elasticsearch data stream without blocking the caller."""

    def __init__(
        self,
        url: str,
        *,
        index: str = "logs-fleetobs-default",
        api_key: str | None = None,
        queue_size: int = 10_000,
        queue_bytes: int = 16 * 1024 * 1024,
        batch_size: int = 500,
        batch_bytes: int = 5 * 1024 * 1024,
        flush_interval: float = 1.0,
        request_timeout: float = 10.0,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.url = url
        self.index = index
        self.api_key = api_key
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.flush_interval = flush_interval
        self.request_timeout = request_timeout
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._client_factory = client_factory or self._default_client
        # Counters for this process, also exported as metrics.
        self.exported = 0
        self.failures = 0
        self.dropped: dict[str, int] = {}
        self._init_state()
        _register(self)

    # --- state ---------------------------------------------------------------------------------
    def _init_state(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[Doc] = deque()
        self._id_prefix = os.urandom(6).hex()
        self._sequence = itertools.count()
        self._queued_bytes = 0
        self._inflight_count = 0
        self._inflight_bytes = 0
        self._thread: threading.Thread | None = None
        self._closing = False
        self._closed = False
        self._close_deadline = float("inf")
        self._wake = threading.Event()
        self._client: Any = None
        self._failing = False

    def _after_fork(self) -> None:
        self._init_state()

    def _default_client(self) -> Any:
        return _quiet_client_class()(
            self.url,
            api_key=self.api_key,
            request_timeout=self.request_timeout,
            max_retries=0,
            retry_on_timeout=False,
        )

    @property
    def pending(self) -> int:
        """Lines queued or in flight in this process."""
        with self._cond:
            return len(self._queue) + self._inflight_count

    def _drop(self, reason: str, amount: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + amount
        _count("fleetobs_telemetry_dropped", amount, signal=SIGNAL, reason=reason)

    # --- producer side (request threads) ------------------------------------------------------
    def put(self, data: bytes) -> bool:
        """Queue one JSON line; ``False`` if it was dropped. Never blocks on the network."""
        if self._pid != _process.pid():
            self._after_fork()
        size = len(data)
        with self._cond:
            if self._closed or self._closing:
                reason = "shutdown"
            elif (
                len(self._queue) + self._inflight_count >= self.queue_size
                or self._queued_bytes + self._inflight_bytes + size > self.queue_bytes
            ):
                reason = "queue_full"
            else:
                self._queue.append((f"{self._id_prefix}{next(self._sequence):x}", data))
                self._queued_bytes += size
                if self._thread is None:
                    self._start()
                elif len(self._queue) >= self.batch_size:
                    self._cond.notify()
                return True
        self._drop(reason)
        return False

    def _start(self) -> None:
        thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread = thread
        thread.start()

    # --- consumer side (the sender thread) ------------------------------------------------------
    def _next_batch(self) -> list[Doc] | None:
        with self._cond:
            deadline = time.monotonic() + self.flush_interval
            while len(self._queue) < self.batch_size and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if not self._queue:
                return None
            batch: list[Doc] = []
            size = 0
            while self._queue and len(batch) < self.batch_size:
                item = self._queue[0]
                if batch and size + len(item[1]) > self.batch_bytes:
                    break
                self._queue.popleft()
                batch.append(item)
                size += len(item[1])
            self._queued_bytes -= size
            self._inflight_count = len(batch)
            self._inflight_bytes = size
            return batch

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                if self._closing:
                    break
                continue
            try:
                self._send(batch)
            except Exception:
                self._drop("export_failed", len(batch))
                logger.warning("log shipper: unexpected error, %d lines dropped", len(batch), exc_info=True)
            with self._cond:
                self._inflight_count = 0
                self._inflight_bytes = 0
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _send(self, batch: list[Doc]) -> None:
        from elastic_transport import TransportError
        from elasticsearch import ApiError
        from elasticsearch.helpers import streaming_bulk

        pending = batch
        attempt = 0
        while pending:
            retry: list[Doc] = []
            done = 0
            failed_request = False
            try:
                if self._client is None:
                    self._client = self._client_factory()
                # Consumed at once: a half-read generator would be closed later, elsewhere.
                results = list(
                    streaming_bulk(
                        self._client,
                        pending,  # type: ignore[arg-type]  # (id, json) pairs, expanded by _expand
                        index=self.index,
                        chunk_size=len(pending),
                        max_chunk_bytes=self.batch_bytes * 2,
                        expand_action_callback=_expand,
                        raise_on_error=False,
                        raise_on_exception=False,
                        max_retries=0,
                        yield_ok=True,
                    )
                )
                retry = self._collect(pending, results)
                done = len(pending)
                failed_request = len(retry) == len(pending)
            except (TransportError, ApiError, OSError):
                failed_request = True
                retry = pending[done:]
            if not retry:
                self._recovered()
                return
            self.failures += 1
            _count("fleetobs_telemetry_export_failures", 1, signal=SIGNAL)
            if failed_request and not self._failing:
                self._failing = True
                logger.warning("log shipper: Elasticsearch at %s is not accepting lines; retrying", self.url)
            if time.monotonic() >= self._close_deadline:
                self._drop("shutdown", len(retry))
                return
            self._backoff(attempt)
            attempt += 1
            pending = retry

    def _collect(self, pending: list[Doc], results: Iterable[tuple[bool, dict[str, Any]]]) -> list[Doc]:
        retry: list[Doc] = []
        exported = 0
        rejected = 0
        for doc, (ok, item) in zip(pending, results, strict=False):
            if ok:
                exported += 1
                continue
            outcome: dict[str, Any] = next(iter(item.values()), {}) if item else {}
            status = outcome.get("status", 500)
            if status == 409:
                # The id exists: an earlier attempt was stored although its answer was lost.
                exported += 1
            elif isinstance(status, int) and (status in _RETRYABLE_STATUS or status >= 500):
                retry.append(doc)
            else:
                rejected += 1
        self.exported += exported
        _count("fleetobs_telemetry_exported", exported, signal=SIGNAL)
        if rejected:
            self._drop("rejected", rejected)
        return retry

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            logger.info("log shipper: Elasticsearch at %s accepts lines again", self.url)

    def _backoff(self, attempt: int) -> None:
        delay = min(self.max_backoff, self.initial_backoff * (2**attempt))
        delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not cryptography
        if self._closing:
            delay = min(delay, max(0.0, self._close_deadline - time.monotonic()))
        self._wake.wait(delay)

    # --- lifecycle ----------------------------------------------------------------------------------
    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is delivered or dropped; ``True`` if empty."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._queue or self._inflight_count:
                if self._thread is None or not self._thread.is_alive():
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
                self._cond.notify_all()
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (for at most ``timeout`` seconds), then stop; drops the rest."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._cond:
            if self._closed or self._closing:  # worker_exit is closing it: atexit must not wait again
                return
            self._closing = True
            self._close_deadline = time.monotonic() + timeout
            self._cond.notify_all()
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            # A second past the deadline lets a batch in flight be counted (delivered or dropped);
            # gunicorn's worker_exit bounds the whole flush on its own, whatever this waits.
            thread.join(timeout + 1.0)
        with self._cond:
            left = len(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
            self._closed = True
        if left:
            self._drop("shutdown", left)
        client = self._client
        self._client = None
        if client is not None:
            with contextlib.suppress(Exception):  # closing a broken client is best effort
                client.close()


def _quiet_client_class() -> Any:
    """The official client, minus its own OpenTelemetry spans.

    The client traces every request it makes; for the shipper's bulk requests that would be one
    new trace per batch, telemetry about telemetry. ``streaming_bulk`` copies the client with
    ``options()``, which calls the class again, so the switch lives in the class.
    """
    from elasticsearch import Elasticsearch

    class QuietElasticsearch(Elasticsearch):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            otel = getattr(self, "_otel", None)
            if otel is not None:
                otel.enabled = False

    return QuietElasticsearch


def _register(shipper: Shipper) -> None:
    global _fork_hook_registered
    _shippers.add(shipper)
    if not _fork_hook_registered:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        atexit.register(_close_all)
        _fork_hook_registered = True


def _close_all() -> None:
    """Interpreter exit: give each shipper a moment to send what it holds."""
    for shipper in list(_shippers):
        shipper.close(2.0)


def from_settings(settings: Any) -> Shipper | None:
    """The shipper ``ELASTICSEARCH_URL`` asks for, or ``None`` (stdout only)."""
    url = getattr(settings, "elasticsearch_url", None)
    if not url:
        return None
    try:
        import elasticsearch  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(
            "ELASTICSEARCH_URL is set but the elasticsearch package is not installed: "
            "pip install 'django-fleet-observability[elasticsearch]'"
        ) from exc
    return Shipper(
        url,
        index=settings.elasticsearch_index,
        api_key=settings.elasticsearch_api_key,
        queue_size=settings.elasticsearch_queue_size,
        queue_bytes=settings.elasticsearch_queue_bytes,
        batch_size=settings.elasticsearch_batch_size,
        flush_interval=settings.elasticsearch_flush_interval,
    )


@on_reset
def reset() -> None:
    """Close every shipper of this process (tests)."""
    for shipper in list(_shippers):
        shipper.close(0.1)
    _shippers.clear()
