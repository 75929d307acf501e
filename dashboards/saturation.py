"""Saturation ratios shared by the overview and the resources dashboard.

Four resources can run out on an instance: worker slots (requests in flight over worker
capacity), CPU (cores used over the cgroup quota), memory (resident over the cgroup limit) and
file descriptors (open over the limit). Each ratio is computed per ``job, instance``; the worst
is their element-wise maximum.
"""

from __future__ import annotations

from dashboards import queries as q
from instrumentation.catalog import metric

PER_INSTANCE = ("job", "instance")


def workers() -> str:
    """Requests in flight over the requests the instance can serve at once."""
    return q.ratio(
        q.gauge(metric("http_server_active_requests"), by=PER_INSTANCE),
        q.gauge(metric("fleetobs_server_worker_capacity"), by=PER_INSTANCE),
    )


def cpu() -> str:
    """CPU cores used over the cores the instance may use."""
    return q.ratio(
        q.rate(metric("fleetobs_process_cpu_seconds"), by=PER_INSTANCE),
        q.gauge(metric("fleetobs_process_cpu_limit_cores"), "max", by=PER_INSTANCE),
    )


def memory() -> str:
    """Resident memory over the memory limit."""
    return q.ratio(
        q.gauge(metric("fleetobs_process_resident_memory_bytes"), by=PER_INSTANCE),
        q.gauge(metric("fleetobs_process_memory_limit_bytes"), "max", by=PER_INSTANCE),
    )


def file_descriptors() -> str:
    """Open file descriptors of the busiest worker over the limit."""
    return q.ratio(
        q.gauge(metric("fleetobs_process_open_fds"), "max", by=PER_INSTANCE),
        q.gauge(metric("fleetobs_process_max_fds"), "min", by=PER_INSTANCE),
    )


#: Label that names the resource in :func:`by_resource`.
RESOURCE_LABEL = "resource"


def by_resource() -> str:
    """All four ratios in one vector, told apart by a ``resource`` label."""
    parts = {"workers": workers(), "cpu": cpu(), "memory": memory(), "file_descriptors": file_descriptors()}
    return " or ".join(q.tag(expr, RESOURCE_LABEL, name) for name, expr in parts.items())


def worst_saturation(by: tuple[str, ...]) -> str:
    """The largest of the four ratios of the most saturated instance, per ``by``."""
    return f"max by ({', '.join(by)}) ({by_resource()})"
