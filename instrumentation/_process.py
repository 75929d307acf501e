"""This process's id without a system call per request.

``os.getpid()`` is a system call; the request path asks "am I still the process that set this
up?" several times per request (sampler thread, log fields, exemplar flusher). The answer
changes only in a forked child, so the pid is read once and again after every fork.
"""

from __future__ import annotations

import os

_pid = os.getpid()


def _after_fork_in_child() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_after_fork_in_child)


def pid() -> int:
    """The current process id (refreshed in a forked child)."""
    return _pid
