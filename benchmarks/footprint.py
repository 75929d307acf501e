"""Per-worker footprint: start-up (import) time and resident memory after warm-up.

For bare Django, this project and the anchor stack, one process at a time (nothing else of the
benchmark runs beside it), rounds interleaved: a :mod:`benchmarks.worker` imports the WSGI
application (``django.setup()`` with the configuration's apps, middleware and the anchors' own
set-up steps: the time a server worker spends before its first request; the import time
reported), seeds its database,
serves every view ``WARMUP`` times and reports its resident set size (``VmRSS``) and peak
(``VmHWM``). The interpreter's own start is not included in the import time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from benchmarks import stats

CONFIGS = ("bare", "ours-100", "anchor")
WARMUP = 100


def run(
    names: Sequence[str] = CONFIGS, rounds: int = 5, log: Callable[[str], None] = print
) -> dict[str, Any]:
    from benchmarks.overhead import Worker

    samples: dict[str, dict[str, list[float]]] = {
        name: {"import_ms": [], "rss_mib": [], "peak_mib": []} for name in names
    }
    for index in range(rounds):
        order = list(names[index % len(names) :]) + list(names[: index % len(names)])
        for name in order:
            worker = Worker(name, {"FLEETOBS_BENCH_WARMUP": str(WARMUP)})
            try:
                probe = worker.wait_ready().get("probe", {})
            finally:
                worker.close()
            samples[name]["import_ms"].append(probe["import_s"] * 1000)
            samples[name]["rss_mib"].append(probe["memory"]["rss_kib"] / 1024)
            samples[name]["peak_mib"].append(probe["memory"]["peak_kib"] / 1024)
        log(f"footprint: round {index + 1}/{rounds} done")
    result: dict[str, Any] = {"rounds": rounds, "warmup_requests_per_view": WARMUP, "configs": {}}
    for name in names:
        entry: dict[str, object] = {key: stats.summary(values) for key, values in samples[name].items()}
        if name != "bare":
            entry["over_bare"] = {
                key: stats.summary(stats.paired_differences(samples[name][key], samples["bare"][key]))
                for key in samples[name]
            }
        result["configs"][name] = entry
    return result
