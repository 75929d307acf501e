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
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.multiprocess import mark_process_dead as _mark_live_gauges_dead
from prometheus_client.samples import Exemplar, Sample

from instrumentation.metrics import exemplars
from instrumentation.metrics.storage import ReservedMmapedDict

LOCK_FILE = ".fleetobs.lock"
MERGED_SUFFIX = "merged"
#: File types whose values are totals and can be summed into the merged file.
_ADDITIVE_TYPES = ("counter", "summary", "histogram")


def _directory(path: str | os.PathLike[str] | None) -> Path:
    chosen = path if path is not None else os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not chosen:
        raise ValueError("PROMETHEUS_MULTIPROC_DIR is not set")
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
    """Fold worker ``pid``'s files into the merged files and delete them (call from the master)."""
    directory = _directory(path)
    with _locked(directory, exclusive=True):
        _mark_live_gauges_dead(pid, str(directory))
        for typ in _ADDITIVE_TYPES:
            source = directory / f"{typ}_{pid}.db"
            if not source.exists():
                continue
            _add_into(directory / f"{typ}_{MERGED_SUFFIX}.db", source)
            source.unlink()
        exemplars.remove(directory, pid)


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
    for pattern in ("*.db", f"{exemplars.FILE_PREFIX}*.json", f".{exemplars.FILE_PREFIX}*.tmp"):
        for file in directory.glob(pattern):
            with contextlib.suppress(FileNotFoundError):
                file.unlink()


class FleetCollector:
    """Reads every worker's files (and the merged ones) under the shared lock, with exemplars."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._path = path

    def collect(self) -> Iterable[Any]:
        directory = _directory(self._path)
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
