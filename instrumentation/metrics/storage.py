"""Metric files whose space is reserved before it is mapped.

prometheus_client's ``MmapedDict`` sizes a file with ``truncate`` and then writes through the
memory map. Truncating only makes a sparse file: on a full filesystem the first write to a page
that has no block behind it is a ``SIGBUS``, which kills the worker (or the gunicorn master,
while it merges a dead worker's files) instead of raising. :class:`ReservedMmapedDict` asks the
filesystem for the blocks of every new entry before writing it (``posix_fallocate``), so a full
disk becomes an ``OSError`` that the error boundary and the gunicorn hooks handle.
:func:`install` makes prometheus_client use it for every value it stores.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from pathlib import Path
from typing import Any

from prometheus_client import values
from prometheus_client.mmap_dict import MmapedDict

#: The size prometheus_client gives a new file (sparse: only written pages take space).
INITIAL_SIZE = 1024 * 1024
PAGE = mmap.PAGESIZE


class ReservedMmapedDict(MmapedDict):
    """``MmapedDict`` that allocates the blocks of each entry before writing it through the map.

    Only the pages actually written are reserved, so files stay as small on disk as
    prometheus_client's sparse ones.
    """

    def __init__(self, filename: str, read_mode: bool = False) -> None:
        if not read_mode:
            _create_reserved(filename)
        super().__init__(filename, read_mode)

    def _init_value(self, key: str) -> None:
        encoded = key.encode("utf-8")
        padded_length = len(encoded) + (8 - (len(encoded) + 4) % 8)
        start = self._used
        end = start + struct.calcsize(f"i{padded_length}sdd")
        _reserve(self._f.fileno(), start, end)
        super()._init_value(key)


def _reserve(fd: int, start: int, end: int) -> None:
    """Allocate the pages covering bytes ``start`` to ``end`` (raises ``OSError`` when full)."""
    first = start // PAGE * PAGE
    last = -(-end // PAGE) * PAGE
    os.posix_fallocate(fd, first, last - first)


def _create_reserved(filename: str) -> None:
    fd = os.open(filename, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size == 0:
            try:
                _reserve(fd, 0, 8)  # the header prometheus_client writes first
                os.ftruncate(fd, INITIAL_SIZE)
            except OSError:
                # An empty file would break every scrape that reads it: leave nothing behind.
                with contextlib.suppress(OSError):
                    Path(filename).unlink()
                raise
    finally:
        os.close(fd)


def install() -> None:
    """Make prometheus_client's multiprocess values use reserved files (idempotent)."""
    module: Any = values
    module.MmapedDict = ReservedMmapedDict
