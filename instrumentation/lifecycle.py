"""Process-wide state: every module's reset registered in one place, and the threads each
process runs.

A module that keeps state in module-level variables (a cache, a registry of metric objects, an
installed pipeline, a connected signal) registers the function that forgets it with
:func:`on_reset`, next to the state it resets. :func:`reset_all` calls them all, the most
recently imported first (a module is imported after those it depends on, so a pipeline is
uninstalled before the settings it was built from are forgotten). Tests and
:func:`instrumentation.testing.reset_all` use it; a test proves on the state of every module,
not on this list, that nothing is left behind.

A background thread that does periodic work (the runtime sampler, the exemplar flusher) is a
:class:`ProcessThread`: started on first use in each process, started again in a forked child
(threads do not survive a fork), stopped by :meth:`ProcessThread.stop` (a reset), each step
inside an error boundary.

This module imports only :mod:`instrumentation._process`: every layer may use it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable
from typing import TypeVar

from instrumentation import _process

__all__ = ["ProcessThread", "on_reset", "registered", "reset_all"]

_Reset = TypeVar("_Reset", bound=Callable[[], None])

#: ``module.function`` -> the reset, in the order the modules were imported.
_resets: dict[str, Callable[[], None]] = {}


def on_reset(reset: _Reset) -> _Reset:
    """Register ``reset`` (a function without arguments) with :func:`reset_all`; returns it, so
    it can decorate the function."""
    _resets[f"{reset.__module__}.{reset.__qualname__}"] = reset
    return reset


def registered() -> list[str]:
    """The names of the registered resets, in the order :func:`reset_all` calls them."""
    return list(reversed(_resets))


def reset_all() -> None:
    """Forget every module's state, the most recently imported module first."""
    for reset in reversed(list(_resets.values())):
        reset()


class ProcessThread:
    """A daemon thread running ``step`` every ``interval`` seconds, one per process.

    :meth:`ensure` (cheap enough to call on every request) starts it if this process has none:
    on first use, and in a forked child, where the parent's thread does not exist. ``on_start``
    runs first, told whether this process was forked from one that ran the thread. A step that
    raises is skipped, never the end of the thread.
    """

    def __init__(
        self,
        name: str,
        interval: float,
        step: Callable[[], None],
        on_start: Callable[[bool], None] | None = None,
    ) -> None:
        self.name = name
        self.interval = interval
        self._step = step
        self._on_start = on_start
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        _threads.add(self)

    def running_here(self) -> bool:
        """Whether this process's thread was started (and not stopped)."""
        return self._pid == _process.pid()

    def ensure(self) -> None:
        """Start this process's thread unless it runs."""
        pid = _process.pid()
        if self._pid == pid:
            return
        with self._lock:
            if self._pid == pid:
                return
            forked = self._pid is not None
            self._pid = pid
            stop = self._stop = threading.Event()
            if self._on_start is not None:
                with contextlib.suppress(Exception):  # a failing first step must not stop the rest
                    self._on_start(forked)
            thread = threading.Thread(target=self._run, args=(pid, stop), name=self.name, daemon=True)
            try:
                thread.start()
            except RuntimeError:  # no thread to be had now: a later call tries again
                self._pid = None
                return
            self._thread = thread

    def stop(self) -> None:
        """Stop this process's thread and wait (briefly) for it to end; a later :meth:`ensure`
        starts another."""
        with self._lock:
            self._pid = None
            self._stop.set()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)  # it wakes at once: its stop event is set

    def _run(self, pid: int, stop: threading.Event) -> None:
        while not stop.wait(self.interval) and self._pid == pid:
            with contextlib.suppress(Exception):  # telemetry must never end its own thread
                self._step()

    def _after_fork_in_child(self) -> None:
        # A lock held by a thread of the parent at fork time would never be released here, and
        # the parent's thread does not exist in the child.
        self._lock = threading.Lock()
        self._thread = None


_threads: weakref.WeakSet[ProcessThread] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for thread in list(_threads):
        thread._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
