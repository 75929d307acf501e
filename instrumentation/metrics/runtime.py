"""Process, GC and worker-capacity gauges, sampled in every worker.

In multiprocess mode only the worker that answers a scrape runs collectors, so process
metrics must be written by each worker itself: a daemon thread, started lazily in each process
after fork, samples ``/proc`` every few seconds into the catalogue gauges (their multiprocess
modes combine workers: memory and threads summed, file descriptors the worst worker). Linux
cgroup v2 and v1 limits give the CPU quota and memory limit a container really has.
"""

from __future__ import annotations

import contextlib
import gc
import os
import platform
import resource
import threading
from pathlib import Path

from instrumentation import conf
from instrumentation.lifecycle import ProcessThread, on_reset
from instrumentation.metrics.registry import get

INTERVAL = 5.0

_capacity = 1
# The labels of fleetobs_build_info, written by every process's sampler: a value set once in a
# preloading master does not survive into its workers' files.
_build: tuple[str, str, str, str] | None = None
_last: dict[str, float] = {}


def set_capacity(threads_per_worker: int) -> None:
    """How many requests this worker serves at once (gunicorn's ``threads``)."""
    global _capacity
    _capacity = max(1, int(threads_per_worker))
    with contextlib.suppress(Exception):
        if _metrics_enabled():
            get("fleetobs_server_worker_capacity").set(_capacity)


def _metrics_enabled() -> bool:
    """``METRICS_ENABLED``, also in a gunicorn hook that runs before Django is set up."""
    try:
        return conf.get_settings().metrics_enabled
    except Exception:  # noqa: BLE001 - no Django settings yet: the environment decides
        return conf.settings_from_environment().metrics_enabled


def _first_sample(forked: bool) -> None:
    _last.clear()
    sample()  # a failing first sample (disk full, /proc unreadable) does not stop the thread


def ensure_sampler() -> None:
    """Start this process's sampler thread if it is not running (cheap to call per request)."""
    _sampler.ensure()


def sample() -> None:
    """Write the current process's figures into the gauges."""
    if _build is not None:
        get("fleetobs_build_info").labels(*_build).set(1)
    get("fleetobs_server_workers").set(1)
    get("fleetobs_server_worker_capacity").set(_capacity)
    rss = _resident_memory()
    if rss is not None:
        get("fleetobs_process_resident_memory_bytes").set(rss)
    get("fleetobs_process_memory_limit_bytes").set(memory_limit())
    get("fleetobs_process_cpu_limit_cores").set(cpu_limit())
    with contextlib.suppress(OSError):
        get("fleetobs_process_open_fds").set(sum(1 for _ in Path("/proc/self/fd").iterdir()))
    get("fleetobs_process_max_fds").set(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    get("fleetobs_process_threads").set(threading.active_count())
    times = os.times()
    _add_delta("cpu", times.user + times.system, get("fleetobs_process_cpu_seconds"))
    gc_counter = get("fleetobs_python_gc_collections")
    for generation, stats in enumerate(gc.get_stats()):
        _add_delta(f"gc{generation}", float(stats["collections"]), gc_counter.labels(str(generation)))


def _add_delta(key: str, total: float, counter: object) -> None:
    previous = _last.get(key, 0.0)
    if total > previous:
        counter.inc(total - previous)  # type: ignore[attr-defined]
    _last[key] = total


def _resident_memory() -> int | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def cpu_limit() -> float:
    """CPU cores available: the cgroup quota if one is set, else the CPUs this process may use."""
    quota = _read("/sys/fs/cgroup/cpu.max")
    if quota:
        limit, _, period = quota.partition(" ")
        if limit != "max" and period:
            return int(limit) / int(period)
    v1_quota, v1_period = (
        _read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
        _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    )
    if v1_quota and v1_period and int(v1_quota) > 0:
        return int(v1_quota) / int(v1_period)
    return float(len(os.sched_getaffinity(0)))


def memory_limit() -> float:
    """Bytes of memory available: the cgroup limit if one is set, else the machine's memory."""
    physical = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        text = _read(path)
        if text and text != "max" and text.isdigit():
            return min(float(text), physical)
    return physical


def build_info(service_name: str, service_version: str) -> None:
    """Set ``fleetobs_build_info`` now and in every sample (so in each worker of a forking server)."""
    global _build
    import django

    _build = (service_name, service_version, django.get_version(), platform.python_version())
    get("fleetobs_build_info").labels(*_build).set(1)


#: The sampler thread of this process (every ``INTERVAL`` seconds).
_sampler = ProcessThread("fleetobs-runtime", INTERVAL, sample, on_start=_first_sample)


@on_reset
def reset() -> None:
    global _capacity, _build
    _sampler.stop()
    _capacity = 1
    _build = None
    _last.clear()
