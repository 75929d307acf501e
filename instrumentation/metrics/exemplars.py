"""Exemplars for histogram buckets, in single-process and multiprocess mode alike.

prometheus_client keeps exemplars only in memory and drops them in multiprocess mode. We keep
the most recent exemplar of every (series, bucket) in a per-worker dict; in multiprocess mode a
daemon thread, started lazily in each worker after fork, writes that dict to
``exemplars_<pid>.json`` in the multiprocess directory at most once a second when it changed
(atomic rename, so a reader never sees half a file). The scrape merges every worker's file and
keeps the newest exemplar per bucket. The request path only does a dict store.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from instrumentation import _process
from instrumentation.lifecycle import ProcessThread, on_reset

# (series name, sorted label pairs including le) -> (trace id, observed value, unix time)
ExemplarKey = tuple[str, tuple[tuple[str, str], ...]]
Exemplar = tuple[str, float, float]

FILE_PREFIX = "exemplars_"
FLUSH_INTERVAL = 1.0

_store: dict[ExemplarKey, Exemplar] = {}
_dirty = False
_directory: Path | None = None


def record(key: ExemplarKey, trace_id: str, value: float) -> None:
    """Remember ``trace_id`` as the exemplar of the bucket ``key`` (hot path: a dict store)."""
    global _dirty
    _store[key] = (trace_id, value, time.time())
    _dirty = True


def local() -> dict[ExemplarKey, Exemplar]:
    return dict(_store)


def ensure_flusher(directory: str) -> None:
    """Start this process's flush thread if it is not running (cheap to call per request)."""
    global _directory
    if _flusher.running_here():
        return
    _directory = Path(directory)
    _flusher.ensure()


def _flush_step() -> None:
    if _directory is not None:
        flush(_directory, _process.pid())


def _flusher_started(forked: bool) -> None:
    if forked:  # the parent's exemplars are not ours
        _store.clear()


#: The flush thread of this process (every ``FLUSH_INTERVAL`` seconds).
_flusher = ProcessThread("fleetobs-exemplars", FLUSH_INTERVAL, _flush_step, on_start=_flusher_started)


def flush(directory: Path, pid: int | None = None) -> None:
    """Write this worker's exemplars to its file if they changed since the last write."""
    global _dirty
    if not _dirty:
        return
    _dirty = False
    pid = os.getpid() if pid is None else pid
    payload = [[name, list(map(list, labels)), *value] for (name, labels), value in list(_store.items())]
    target = directory / f"{FILE_PREFIX}{pid}.json"
    temporary = directory / f".{FILE_PREFIX}{pid}.json.tmp"
    temporary.write_text(json.dumps(payload, separators=(",", ":")))
    temporary.replace(target)


def read_all(directory: Path) -> dict[ExemplarKey, Exemplar]:
    """Every worker's exemplars, newest per bucket, this process's in-memory ones included."""
    merged: dict[ExemplarKey, Exemplar] = {}
    for path in directory.glob(f"{FILE_PREFIX}*.json"):
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # removed or replaced while listing
        for name, labels, trace_id, value, timestamp in entries:
            key = (name, tuple((str(k), str(v)) for k, v in labels))
            _keep_newest(merged, key, (str(trace_id), float(value), float(timestamp)))
    for key, exemplar in list(_store.items()):
        _keep_newest(merged, key, exemplar)
    return merged


def _keep_newest(merged: dict[ExemplarKey, Exemplar], key: ExemplarKey, exemplar: Exemplar) -> None:
    current = merged.get(key)
    if current is None or current[2] < exemplar[2]:
        merged[key] = exemplar


def remove(directory: Path, pid: int) -> None:
    """Delete a dead worker's exemplar file: its exemplars are samples, not totals."""
    with contextlib.suppress(FileNotFoundError):
        (directory / f"{FILE_PREFIX}{pid}.json").unlink()


@on_reset
def reset() -> None:
    global _dirty, _directory
    _flusher.stop()
    _store.clear()
    _dirty = False
    _directory = None
