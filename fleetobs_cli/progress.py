"""Progress lines of the long commands, on stderr so stdout stays the command's result.

One line per finished step, numbered::

    [1/2] ILM policy logs-fleetobs ... ok
    [2/2] index template logs-fleetobs ... ok

A step that fails prints nothing: the command's one-line error follows whatever steps succeeded,
so a command that fails at its first step still prints exactly one line. ``-q``/``--quiet``
(:func:`quiet_argument`) turns the lines off; ``manage.py fleetobs`` also honours
``--verbosity 0``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Protocol

__all__ = ["Progress", "quiet_argument"]


class Writable(Protocol):
    def write(self, text: str, /) -> object: ...

    def flush(self) -> object: ...


class Progress:
    """Counts the steps of one command and reports each as it finishes."""

    def __init__(self, total: int, *, quiet: bool = False, stream: Writable | None = None) -> None:
        self.total = total
        self.quiet = quiet
        self._stream = stream
        self.done_steps = 0

    def done(self, what: str, outcome: str = "ok") -> None:
        """Step ``what`` finished with ``outcome`` (``ok``, ``3 findings``, ...)."""
        self.done_steps += 1
        if self.quiet:
            return
        stream = self._stream if self._stream is not None else sys.stderr
        width = len(str(self.total))
        stream.write(f"[{self.done_steps:>{width}}/{self.total}] {what} ... {outcome}\n")
        stream.flush()


def quiet_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``-q``/``--quiet``: no progress lines."""
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines on stderr (errors are still printed)"
    )
