"""Resources and saturation: which instance is running out of what?

Every panel is per instance. Rows answer: *Is any instance near a limit?* (the four saturation
ratios: worker slots, CPU, memory, file descriptors, with 80 % and 90 % marks), *What is
the process using?* (CPU cores and memory against their limits, threads, open file
descriptors), *Are the workers keeping up?* (requests in flight against worker capacity, live
workers), *Is the runtime healthy?* (garbage-collector runs by generation), *Can we reach
the database?* (connection errors and query errors) and *Is telemetry getting through?* (spans
and log records delivered, dropped by reason, and failed export attempts).
"""

from __future__ import annotations

from grafanalib import core as gl

from dashboards import queries as q
from dashboards import saturation, uids
from dashboards.board import dashboard
from dashboards.panels import (
    ANY,
    BYTES,
    COUNT,
    OPS_PER_SECOND,
    RATIO,
    SATURATION,
    Query,
    Section,
    timeseries,
)
from instrumentation.catalog import metric

UID = uids.RESOURCES
TITLE = "Resources and saturation"

PER_INSTANCE = saturation.PER_INSTANCE
LEGEND = "{{job}} {{instance}}"


def build() -> gl.Dashboard:
    ratios = [
        timeseries(
            title,
            description,
            [Query(expr, LEGEND)],
            RATIO,
            w=6,
            steps=SATURATION,
            min_value=0,
        )
        for title, description, expr in (
            (
                "Worker busy ratio",
                "Requests in flight over the requests the instance can serve at once (workers x threads). "
                "Near 100 % new requests queue in the server's backlog.",
                saturation.workers(),
            ),
            (
                "CPU vs limit",
                "CPU cores used over the cores the instance may use (cgroup quota).",
                saturation.cpu(),
            ),
            ("Memory vs limit", "Resident memory over the instance's memory limit.", saturation.memory()),
            (
                "File descriptors vs limit",
                "Open file descriptors of the busiest worker over the per-process limit.",
                saturation.file_descriptors(),
            ),
        )
    ]
    usage = [
        timeseries(
            "CPU cores",
            "CPU time used per second by the instance's workers (cores), and the cores it may use.",
            [
                Query(q.rate(metric("fleetobs_process_cpu_seconds"), by=PER_INSTANCE), f"{LEGEND} used"),
                Query(
                    q.gauge(metric("fleetobs_process_cpu_limit_cores"), "max", by=PER_INSTANCE),
                    f"{LEGEND} limit",
                ),
            ],
            COUNT,
            w=6,
        ),
        timeseries(
            "Memory",
            "Resident memory of the instance's live workers, summed, and the instance's memory limit.",
            [
                Query(
                    q.gauge(metric("fleetobs_process_resident_memory_bytes"), by=PER_INSTANCE),
                    f"{LEGEND} used",
                ),
                Query(
                    q.gauge(metric("fleetobs_process_memory_limit_bytes"), "max", by=PER_INSTANCE),
                    f"{LEGEND} limit",
                ),
            ],
            BYTES,
            w=6,
        ),
        timeseries(
            "File descriptors",
            "Open file descriptors of the busiest worker, and the per-process limit.",
            [
                Query(q.gauge(metric("fleetobs_process_open_fds"), "max", by=PER_INSTANCE), f"{LEGEND} open"),
                Query(q.gauge(metric("fleetobs_process_max_fds"), "min", by=PER_INSTANCE), f"{LEGEND} limit"),
            ],
            COUNT,
            w=6,
        ),
        timeseries(
            "Threads",
            "Threads in the instance's live worker processes, summed. Steady growth means a thread leak.",
            [Query(q.gauge(metric("fleetobs_process_threads"), by=PER_INSTANCE), LEGEND)],
            COUNT,
            w=6,
        ),
    ]
    workers = [
        timeseries(
            "Requests in flight vs capacity",
            "Requests being served now and how many the instance can serve at once.",
            [
                Query(q.gauge(metric("http_server_active_requests"), by=PER_INSTANCE), f"{LEGEND} in flight"),
                Query(
                    q.gauge(metric("fleetobs_server_worker_capacity"), by=PER_INSTANCE), f"{LEGEND} capacity"
                ),
            ],
            COUNT,
            w=8,
        ),
        timeseries(
            "Live workers",
            "Worker processes alive on each instance. Dips are worker restarts (crashes, timeouts, "
            "max-requests).",
            [Query(q.gauge(metric("fleetobs_server_workers"), by=PER_INSTANCE), LEGEND)],
            COUNT,
            w=8,
        ),
        timeseries(
            "Garbage collections",
            "Garbage-collector runs per second by generation. Frequent generation 2 runs cost latency.",
            [
                Query(
                    q.rate(metric("fleetobs_python_gc_collections"), by=(*PER_INSTANCE, "generation")),
                    f"{LEGEND} gen {{{{generation}}}}",
                )
            ],
            OPS_PER_SECOND,
            w=8,
        ),
    ]
    database = [
        timeseries(
            "Database connection errors",
            "Failed attempts per second to open a database connection, by alias. Any is worth a look: the "
            "database is down, unreachable, or out of connections.",
            [
                Query(
                    q.rate(metric("fleetobs_db_connection_errors"), by=(*PER_INSTANCE, "db_alias")),
                    f"{LEGEND} {{{{db_alias}}}}",
                )
            ],
            OPS_PER_SECOND,
            steps=ANY,
        ),
        timeseries(
            "Database query errors",
            "Queries per second that raised, by alias and exception type.",
            [
                Query(
                    q.rate(metric("fleetobs_db_errors"), by=(*PER_INSTANCE, "db_alias", "error_type")),
                    f"{LEGEND} {{{{db_alias}}}} {{{{error_type}}}}",
                )
            ],
            OPS_PER_SECOND,
            steps=ANY,
        ),
    ]
    telemetry = [
        timeseries(
            "Telemetry delivered",
            "Spans and log records per second handed to their backend (Tempo, Elasticsearch), by signal. "
            "A signal that stops here while the instance serves traffic is not reaching its backend.",
            [
                Query(
                    q.rate(metric("fleetobs_telemetry_exported"), by=(*PER_INSTANCE, "signal")),
                    f"{LEGEND} {{{{signal}}}}",
                )
            ],
            OPS_PER_SECOND,
            w=8,
        ),
        timeseries(
            "Telemetry dropped",
            "Spans and log records per second given up on, by signal and reason: queue_full (the backend "
            "is slower than the instance), export_failed (it is down or refusing), rejected (it refused "
            "some records), shutdown. Traces and logs of these moments are incomplete.",
            [
                Query(
                    q.rate(metric("fleetobs_telemetry_dropped"), by=(*PER_INSTANCE, "signal", "reason")),
                    f"{LEGEND} {{{{signal}}}} {{{{reason}}}}",
                )
            ],
            OPS_PER_SECOND,
            w=8,
            steps=ANY,
        ),
        timeseries(
            "Failed export attempts",
            "Export attempts per second that did not reach the backend (each retry counts), by signal. "
            "Failures with deliveries in between are retries that worked; failures alone are an outage.",
            [
                Query(
                    q.rate(metric("fleetobs_telemetry_export_failures"), by=(*PER_INSTANCE, "signal")),
                    f"{LEGEND} {{{{signal}}}}",
                )
            ],
            OPS_PER_SECOND,
            w=8,
            steps=ANY,
        ),
    ]
    return dashboard(
        UID,
        TITLE,
        "Per-instance CPU, memory, file descriptors, worker saturation, garbage collection, database "
        "connectivity and telemetry delivery.",
        [
            Section("Is any instance near a limit?", ratios),
            Section("What are the processes using?", usage),
            Section("Are the workers keeping up?", workers),
            Section("Can the instances reach the database?", database),
            Section("Is telemetry getting through?", telemetry),
        ],
    )
