"""This process's id without a system call per request, and its multiprocess metrics directory.

``os.getpid()`` is a system call; the request path asks "am I still the process that set this
up?" several times per request (sampler thread, log fields, exemplar flusher). The answer
changes only in a forked child, so the pid is read once and again after every fork.

:func:`multiprocess_dir` is the one reader of ``PROMETHEUS_MULTIPROC_DIR``, the directory
prometheus_client's multiprocess mode shares between the workers of a server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: The environment variable naming the multiprocess metrics directory (prometheus_client's).
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

_pid = os.getpid()


def _after_fork_in_child() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_after_fork_in_child)


def pid() -> int:
    """The current process id (refreshed in a forked child)."""
    return _pid


def multiprocess_dir(environ: Mapping[str, str] | None = None) -> str | None:
    """The multiprocess metrics directory (of ``environ``, by default this process's
    environment), or ``None`` when metrics live in this process's memory."""
    return (os.environ if environ is None else environ).get(MULTIPROCESS_DIR_ENV) or None
