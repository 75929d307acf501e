"""Standard output for log lines: whole lines, batched into few ``write(2)`` calls.

A system call per log line is the largest single cost of a JSON access log, because it is paid
on every request. :class:`BatchedOutput` keeps info-level lines in a small buffer and writes
them together:

* a write never exceeds ``PIPE_BUF`` (4096 bytes) unless one line alone is longer, so lines of
  several worker processes sharing one pipe (a container's standard output) never interleave;
* a line at ``WARNING`` or above (errors, 5xx access lines) is written at once, with everything
  buffered before it, so the lines that explain a crash are out before it happens;
* a buffered line waits at most ``LOG_FLUSH_INTERVAL`` seconds (default 0.1): a daemon thread,
  started lazily in each process, writes whatever is pending;
* the buffer is written before a fork (the child starts empty, so nothing is printed twice),
  at exit, and by :func:`flush` (gunicorn's ``worker_exit`` hook calls it).

What can be lost is what any buffer loses: on ``SIGKILL`` or a hard crash, the info lines of
the last ``LOG_FLUSH_INTERVAL`` seconds. ``LOG_FLUSH_INTERVAL = 0`` writes every line at once.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections.abc import Callable

from instrumentation import _process
from instrumentation.lifecycle import ProcessThread, on_reset

__all__ = ["PIPE_BUF", "BatchedOutput", "flush_all", "reset", "unbuffered_in_this_process", "write_all"]

PIPE_BUF = 4096
FLUSHER_THREAD = "fleetobs-log-flush"


def write_all(fd: int, data: bytes) -> None:
    """``write(2)`` until ``data`` is out (a pipe may take a long line in parts)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class BatchedOutput:
    """Lines for one file descriptor, written in batches of at most :data:`PIPE_BUF` bytes."""

    def __init__(self, fd: int, interval: float, before_write: Callable[[], None] | None = None) -> None:
        self.fd = fd
        self.interval = interval
        self._before_write = before_write
        self._init_process_state()
        self._flusher = ProcessThread(FLUSHER_THREAD, interval, self._flush_pending)
        _live.add(self)

    def _init_process_state(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, line: bytes, urgent: bool = False) -> None:
        """Queue ``line`` (one or more whole lines); ``urgent`` writes it and the queue now."""
        if self.interval <= 0 or _unbuffered_pid == _process.pid():
            if self._before_write is not None:
                self._before_write()
            write_all(self.fd, line)
            return
        with self._lock:
            if self._pending and self._size + len(line) > PIPE_BUF:
                self._write_locked()  # what is pending goes first, in a write of its own
            self._pending.append(line)
            self._size += len(line)
            if urgent or self._size >= PIPE_BUF:
                self._write_locked()
                return
        self._flusher.ensure()

    def flush(self) -> None:
        """Write everything pending now."""
        with self._lock:
            if self._pending:
                self._write_locked()

    def _write_locked(self) -> None:
        data = b"".join(self._pending)
        self._pending = []
        self._size = 0
        try:
            if self._before_write is not None:
                self._before_write()
            write_all(self.fd, data)
        except OSError:
            pass  # standard output closed or broken: nothing sensible to log to

    def close(self) -> None:
        """Write everything pending and stop the flush thread (a later line starts another)."""
        self._flusher.stop()
        self.flush()

    def _flush_pending(self) -> None:
        if self._pending:
            self.flush()

    def _after_fork_in_child(self) -> None:
        # The parent wrote its lines before forking; a lock held by another thread of the
        # parent at fork time would never be released here, so everything is new.
        self._init_process_state()


_live: weakref.WeakSet[BatchedOutput] = weakref.WeakSet()
_unbuffered_pid: int | None = None


def unbuffered_in_this_process() -> None:
    """Write every line at once in this process, but not in its forked children.

    For a pre-forking server's master (gunicorn's ``on_starting``): it logs little, and a
    flush thread there would be running while it forks workers.
    """
    global _unbuffered_pid
    flush_all()
    _unbuffered_pid = _process.pid()


def flush_all() -> None:
    """Write every pending line of every output (exit, worker exit, tests)."""
    for output in list(_live):
        output.flush()  # a broken standard output is ignored there


@on_reset
def reset() -> None:
    """Write what is pending, stop the flush threads and buffer again in this process (tests)."""
    global _unbuffered_pid
    for output in list(_live):
        output.close()
    _unbuffered_pid = None


def _after_fork_in_child() -> None:
    global _unbuffered_pid
    _unbuffered_pid = None
    for output in list(_live):
        output._after_fork_in_child()


# Pending lines are written before a fork, so the child starts empty and prints nothing twice.
os.register_at_fork(before=flush_all, after_in_child=_after_fork_in_child)
atexit.register(flush_all)
