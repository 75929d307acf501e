"""The scrape side of multiprocess mode, and the bookkeeping for dead workers.

Every gunicorn worker writes its counters and histograms to ``<type>_<pid>.db`` mmap files.
prometheus_client's stock collector sums those files on each scrape, so a service that
recycles workers accumulates files and the scrape slows down without bound. Here the master
calls :func:`mark_process_dead` for every worker that exits (gracefully or killed): the dead
worker's counter, summary and histogram values are added into ``<type>_merged.db`` and its file
is removed. Totals are preserved exactly, so counters never go backwards, and the number of
files stays at (live workers + 1) per type.

A merge and a scrape must not interleave (a scrape would count a worker twice, or not at all,
and Prometheus would see a counter reset). Both take a ``flock`` on ``.fleetobs.lock`` in the
directory: shared for scrapes, exclusive for merges.

A server's master learns of a dead worker inside its SIGCHLD handler, where nothing may wait
on a lock (the handler can re-enter itself while the lock is held, and the master would hang
for good). There :func:`note_process_dead` only leaves a ``dead_<pid>`` marker, which cannot
block; the merge runs later, outside any signal handler, under the exclusive lock:

* at the next scrape (:meth:`FleetCollector.collect` folds every marked worker first);
* in a new worker that was given a dead worker's pid (:func:`claim_pid`, from ``post_fork``),
  before it writes anything, so the reused pid never mixes two processes' files.

Until then the dead worker's files are read like a live worker's: totals are exact throughout.

Servers with no child-exit hook (uvicorn, hypercorn, granian, daphne under ``fleetobs serve``)
mark nobody dead: each scrape also sweeps the files of pids that no longer exist
(:func:`sweep_dead`), but only in the pid namespace that emptied the directory, where a pid
means the same process to every reader (across containers sharing a volume a live pid would
look dead).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.multiprocess import mark_process_dead as _mark_live_gauges_dead
from prometheus_client.samples import Exemplar, Sample

from instrumentation._process import MULTIPROCESS_DIR_ENV, multiprocess_dir
from instrumentation._safety import internal_error
from instrumentation.metrics import exemplars
from instrumentation.metrics.storage import ReservedMmapedDict

LOCK_FILE = ".fleetobs.lock"
MERGED_SUFFIX = "merged"
DEAD_PREFIX = "dead_"
#: The pid namespace of the process that emptied the directory: pids are only comparable there.
NAMESPACE_FILE = ".fleetobs-pidns"
_PID_FILE = re.compile(r"^(?:counter|histogram|summary|gauge_[a-z]+)_(\d+)\.db$")
#: File types whose values are totals and can be summed into the merged file.
_ADDITIVE_TYPES = ("counter", "summary", "histogram")


def _directory(path: str | os.PathLike[str] | None) -> Path:
    chosen = path if path is not None else multiprocess_dir()
    if not chosen:
        raise ValueError(f"{MULTIPROCESS_DIR_ENV} is not set")
    return Path(chosen)


@contextlib.contextmanager
def _locked(directory: Path, *, exclusive: bool) -> Iterator[None]:
    with (directory / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def mark_process_dead(pid: int, path: str | os.PathLike[str] | None = None) -> None:
    """Fold process ``pid``'s files into the merged files and delete them, now.

    Waits for the exclusive lock: never call it from a signal handler (use
    :func:`note_process_dead` there).
    """
    directory = _directory(path)
    with _locked(directory, exclusive=True):
        _fold(directory, pid)
        (directory / f"{DEAD_PREFIX}{pid}").unlink(missing_ok=True)


def _fold(directory: Path, pid: int) -> None:
    _mark_live_gauges_dead(pid, str(directory))
    for typ in _ADDITIVE_TYPES:
        source = directory / f"{typ}_{pid}.db"
        if not source.exists():
            continue
        _add_into(directory / f"{typ}_{MERGED_SUFFIX}.db", source)
        source.unlink()
    exemplars.remove(directory, pid)


def note_process_dead(pid: int, path: str | os.PathLike[str] | None = None) -> bool:
    """Mark process ``pid`` dead for a later merge; safe in a signal handler.

    Creates one empty file: no lock, no reading, nothing that waits on another process.
    Returns False (and changes nothing) when the marker cannot be written; the dead worker's
    files then stay and are read like a live worker's, so totals remain exact.
    """
    try:
        descriptor = os.open(_directory(path) / f"{DEAD_PREFIX}{int(pid)}", os.O_CREAT | os.O_WRONLY, 0o644)
    except (OSError, ValueError):
        return False
    os.close(descriptor)
    return True


def _marked_dead(directory: Path) -> list[int]:
    pids = []
    for marker in directory.glob(f"{DEAD_PREFIX}*"):
        suffix = marker.name[len(DEAD_PREFIX) :]
        if suffix.isdigit():
            pids.append(int(suffix))
    return pids


def merge_marked(path: str | os.PathLike[str] | None = None) -> int:
    """Fold every worker marked dead into the merged files; the number folded.

    A marked pid that is alive again belongs to a new process (pids are reused): its files are
    left for :func:`claim_pid` in that process, or for a later merge once it is gone.
    """
    directory = _directory(path)
    if not _marked_dead(directory):
        return 0
    return _fold_dead(directory, lambda: _marked_dead(directory), "metrics.merge")


def _fold_dead(directory: Path, pids: Callable[[], Iterable[int]], where: str) -> int:
    """Under the exclusive lock, fold each of ``pids()`` (listed under the lock) that is not alive."""
    folded = 0
    with _locked(directory, exclusive=True):
        for pid in pids():
            if pid != os.getpid() and _alive(pid):  # checked under the lock: a new process may own it
                continue
            try:
                _fold(directory, pid)
                (directory / f"{DEAD_PREFIX}{pid}").unlink(missing_ok=True)
            except Exception as exc:  # noqa: BLE001 - the scrape goes on; the files are still read
                internal_error(exc, where)
                continue
            folded += 1
    return folded


def _pid_namespace() -> str:
    try:
        return str(Path("/proc/self/ns/pid").readlink())
    except OSError:
        return ""


def sweep_dead(path: str | os.PathLike[str] | None = None) -> int:
    """Fold the files of every process that no longer exists; the number folded."""
    directory = _directory(path)
    try:
        recorded = (directory / NAMESPACE_FILE).read_text()
    except OSError:
        return 0
    if not recorded or recorded != _pid_namespace():
        return 0
    own = os.getpid()
    pids = {int(m.group(1)) for f in directory.glob("*.db") if (m := _PID_FILE.match(f.name))} - {own}
    if all(_alive(pid) for pid in pids):
        return 0
    return _fold_dead(directory, lambda: sorted(pids), "metrics.sweep")


def claim_pid(path: str | os.PathLike[str] | None = None) -> None:
    """In a new worker, before it records anything: fold a dead predecessor with the same pid.

    Takes the exclusive lock even without a marker in sight, so a merge another process has
    begun for this pid finishes before this process opens the files.
    """
    directory = _directory(path)
    pid = os.getpid()
    with _locked(directory, exclusive=True):
        if (directory / f"{DEAD_PREFIX}{pid}").exists():
            _fold(directory, pid)
            (directory / f"{DEAD_PREFIX}{pid}").unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _add_into(target: Path, source: Path) -> None:
    """Write ``target`` + ``source`` to a new file and swap it in, so a failure changes nothing."""
    totals: dict[str, tuple[float, float]] = {}
    if target.exists():
        for key, value, timestamp, _position in MmapedDict.read_all_values_from_file(str(target)):
            totals[key] = (value, timestamp)
    for key, value, timestamp, _position in MmapedDict.read_all_values_from_file(str(source)):
        current = totals.get(key, (0.0, 0.0))[0]
        totals[key] = (_sum_rounded_up(current, value), timestamp)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.unlink(missing_ok=True)
    merged = ReservedMmapedDict(str(temporary))
    try:
        for key, (value, timestamp) in totals.items():
            merged.write_value(key, value, timestamp)
    except BaseException:
        merged.close()
        temporary.unlink(missing_ok=True)
        raise
    merged.close()
    temporary.replace(target)


def _sum_rounded_up(a: float, b: float) -> float:
    """``a + b``, never below the exact sum: a merged total must not undercut the values it replaces.

    Whole numbers (request counts) add exactly; a fractional sum that had to be rounded is
    rounded up by one unit in the last place, so a scrape after the merge never reads less.
    """
    total = math.fsum((a, b))
    if total - a != b or total - b != a:
        total = math.nextafter(total, math.inf)
    return total


def clear_directory(path: str | os.PathLike[str] | None = None) -> None:
    """Remove every metrics file (a fresh server start: counters restart from zero)."""
    directory = _directory(path)
    directory.mkdir(parents=True, exist_ok=True)
    for pattern in (
        "*.db",
        f"{DEAD_PREFIX}*",
        f"{exemplars.FILE_PREFIX}*.json",
        f".{exemplars.FILE_PREFIX}*.tmp",
    ):
        for file in directory.glob(pattern):
            with contextlib.suppress(FileNotFoundError):
                file.unlink()
    (directory / NAMESPACE_FILE).write_text(_pid_namespace())


class FleetCollector:
    """Reads every worker's files (and the merged ones) under the shared lock, with exemplars."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._path = path

    def collect(self) -> Iterable[Any]:
        directory = _directory(self._path)
        merge_marked(directory)
        sweep_dead(directory)
        with _locked(directory, exclusive=False):
            files = [str(path) for path in directory.glob("*.db")]
            families = _merge(files)
            stored = exemplars.read_all(directory)
        if stored:
            for family in families:
                if family.type == "histogram":
                    family.samples = [_with_exemplar(sample, stored) for sample in family.samples]
        return families


def _merge(files: list[str]) -> list[Any]:
    """prometheus_client's merge, with totals summed exactly (``math.fsum``) in any file order.

    Float addition depends on order; summed file by file, a fractional counter could read a
    hair lower after a dead worker's file is folded into the merged one, and Prometheus would
    take that for a counter reset.
    """
    metrics = MultiProcessCollector._read_metrics(files)
    for family in metrics.values():
        if family.type == "gauge":
            continue
        grouped: dict[tuple[str, Any], list[float]] = {}
        first: dict[tuple[str, Any], Sample] = {}
        for sample in family.samples:
            key = (sample.name, sample.labels)
            grouped.setdefault(key, []).append(sample.value)
            first.setdefault(key, sample)
        family.samples = [first[key]._replace(value=math.fsum(values)) for key, values in grouped.items()]
    return list(MultiProcessCollector._accumulate_metrics(metrics, True))


def _with_exemplar(sample: Sample, stored: dict[exemplars.ExemplarKey, exemplars.Exemplar]) -> Sample:
    if not sample.name.endswith("_bucket"):
        return sample
    found = stored.get((sample.name, tuple(sorted(sample.labels.items()))))
    if found is None:
        return sample
    trace_id, value, timestamp = found
    return sample._replace(exemplar=Exemplar({"trace_id": trace_id}, value, timestamp))
