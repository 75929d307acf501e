"""The soak: the sample fleet under steady load, checked for resource growth.

``python -m tests.reliability.soak --minutes 10`` (``make soak``) starts the sample fleet
(gunicorn instances of the shop, a real Prometheus scraping them when the binary is installed),
drives the shop's realistic traffic mix at a steady rate (after ``--prewarm`` seconds of
unsampled load, if asked), and every ``--interval`` seconds samples, for every gunicorn process
(masters and workers):

* resident memory (``VmRSS``), open file descriptors and threads, from ``/proc``;
* the size and file count of each instance's multiprocess metrics directory.

At the end it writes the samples as JSON, a PNG plot (matplotlib, Agg backend) and a verdict
per series. A series passes when its growth over the measured window (after a warm-up: the
first quarter of the run, at most a minute) stays within noise: the robust (Theil-Sen) slope
times the window is at most three robust standard deviations of the residuals, or a small
absolute tolerance (RSS: 2 MiB or 2 %, descriptors: 4, threads: 1,
metrics directory: 64 KiB). Workers are summed per instance so a recycled worker does not break
a series. Exit status 0 when every series passes, 1 otherwise.

The test suite runs a one-minute version (``tests/reliability/test_soak.py``); the figures of
the last long run are in ``docs/reliability.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.reliability.harness import REPO, directory_size, process_stats

DEFAULT_OUTPUT = REPO / "docs" / "images"
MIB = 1024 * 1024

#: Absolute tolerance on growth over the window, per metric (and a relative one for RSS).
TOLERANCE: dict[str, float] = {"rss_bytes": 2 * MIB, "fds": 4, "threads": 1, "dir_bytes": 64 * 1024}
RELATIVE_TOLERANCE = {"rss_bytes": 0.02}
UNITS = {"rss_bytes": ("MiB", MIB), "fds": ("", 1), "threads": ("", 1), "dir_bytes": ("KiB", 1024)}


@dataclass(frozen=True)
class Options:
    minutes: float = 10.0
    interval: float = 10.0
    rate: float = 15.0
    instances: int = 2
    workers: int = 2
    output_dir: Path = DEFAULT_OUTPUT
    name: str = "soak"
    prometheus: bool = True
    warmup_fraction: float = 0.25
    max_warmup: float = 60.0
    #: Seconds of load before the first sample (short runs: let lazy imports and caches settle).
    prewarm: float = 0.0


@dataclass(frozen=True)
class Verdict:
    series: str
    metric: str
    samples: int
    mean: float
    slope_per_hour: float
    growth: float
    noise: float
    tolerance: float
    passed: bool

    def row(self) -> str:
        unit, scale = UNITS[self.metric]
        suffix = f" {unit}" if unit else ""
        return (
            f"| {self.series} | {self.metric} | {self.mean / scale:.1f}{suffix} | "
            f"{self.growth / scale:+.2f}{suffix} | {self.noise / scale:.2f}{suffix} | "
            f"{self.tolerance / scale:.2f}{suffix} | {'pass' if self.passed else 'FAIL'} |"
        )


# --- sampling -----------------------------------------------------------------------------------
def sample_fleet(fleet: Any, started: float) -> list[dict[str, Any]]:
    """One sample of every gunicorn process and metrics directory of ``fleet``."""
    now = time.monotonic() - started
    rows: list[dict[str, Any]] = []
    for index, app in enumerate(fleet.instances):
        instance = fleet.instance_name(index)
        roles = [("master", app.pid)] + [("worker", pid) for pid in app.worker_pids()]
        for role, pid in roles:
            stats = process_stats(pid)
            if stats is not None:
                rows.append(
                    {
                        "t": round(now, 2),
                        "instance": instance,
                        "role": role,
                        "pid": pid,
                        "rss_bytes": stats.rss_bytes,
                        "fds": stats.fds,
                        "threads": stats.threads,
                    }
                )
        size, files = directory_size(app.multiproc_dir)
        rows.append(
            {
                "t": round(now, 2),
                "instance": instance,
                "role": "metrics-dir",
                "dir_bytes": size,
                "files": files,
            }
        )
    return rows


def series(samples: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(series name, metric) -> [(t, value)]: masters alone, workers summed per instance."""
    grouped: dict[tuple[str, str, float], float] = defaultdict(float)
    for row in samples:
        if row["role"] == "metrics-dir":
            grouped[(f"{row['instance']} metrics dir", "dir_bytes", row["t"])] += row["dir_bytes"]
            continue
        name = f"{row['instance']} {'master' if row['role'] == 'master' else 'workers'}"
        for metric in ("rss_bytes", "fds", "threads"):
            grouped[(name, metric, row["t"])] += row[metric]
    result: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for (name, metric, t), value in sorted(grouped.items(), key=lambda item: item[0][2]):
        result[(name, metric)].append((t, value))
    return dict(result)


def robust_fit(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Theil-Sen slope (median of pairwise slopes) and the robust spread of the residuals.

    Robust on purpose: an open-descriptor count sampled while a request is in flight, or one
    garbage-collection pause, must not read as a trend.
    """
    n = len(points)
    if n < 3:
        return 0.0, 0.0
    slopes = sorted(
        (v2 - v1) / (t2 - t1) for i, (t1, v1) in enumerate(points) for t2, v2 in points[i + 1 :] if t2 != t1
    )
    if not slopes:
        return 0.0, 0.0
    slope = statistics.median(slopes)
    intercept = statistics.median(v - slope * t for t, v in points)
    residuals = [v - (intercept + slope * t) for t, v in points]
    mad = statistics.median(abs(r) for r in residuals)
    return slope, 1.4826 * mad


def judge(samples: Sequence[dict[str, Any]], warmup: float) -> list[Verdict]:
    """One verdict per series, on the samples taken after ``warmup`` seconds."""
    verdicts = []
    for (name, metric), points in sorted(series(samples).items()):
        steady = [p for p in points if p[0] >= warmup]
        if len(steady) < 2:
            continue
        slope, noise = robust_fit(steady)
        window = steady[-1][0] - steady[0][0] if len(steady) > 1 else 0.0
        growth = slope * window
        mean = sum(v for _, v in steady) / len(steady)
        tolerance = max(TOLERANCE[metric], RELATIVE_TOLERANCE.get(metric, 0.0) * mean)
        passed = growth <= max(3 * noise, tolerance)
        verdicts.append(
            Verdict(name, metric, len(steady), mean, slope * 3600, growth, noise, tolerance, passed)
        )
    return verdicts


# --- output -------------------------------------------------------------------------------------
def plot(samples: Sequence[dict[str, Any]], path: Path, title: str, warmup: float = 0.0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("rss_bytes", "Resident memory (MiB)", MIB),
        ("fds", "Open file descriptors", 1),
        ("threads", "Threads", 1),
        ("dir_bytes", "Multiprocess metrics directory (KiB)", 1024),
    ]
    figure, axes = plt.subplots(2, 2, figsize=(12, 7.5), sharex=True)
    data = series(samples)
    for axis, (metric, label, scale) in zip(axes.flat, panels, strict=True):
        for (name, series_metric), points in sorted(data.items()):
            if series_metric != metric:
                continue
            axis.plot([t / 60 for t, _ in points], [v / scale for _, v in points], marker=".", label=name)
        if warmup:
            axis.axvline(warmup / 60, color="grey", linestyle=":", linewidth=1)
        axis.set_title(label, fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="best")
        axis.set_ylim(bottom=0)
    for axis in axes[1]:
        axis.set_xlabel("minutes")
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def markdown(verdicts: Sequence[Verdict]) -> str:
    lines = [
        "| series | metric | mean | growth over window | noise (sigma) | tolerance | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    lines.extend(v.row() for v in verdicts)
    return "\n".join(lines)


# --- the run ------------------------------------------------------------------------------------
def run(options: Options, log: Any = print) -> dict[str, Any]:
    from sample_app.fleet import Fleet, FleetConfig
    from sample_app.processes import MissingBinaryError, find_binary
    from sample_app.traffic import LoadGenerator

    use_prometheus = options.prometheus
    if use_prometheus:
        try:
            find_binary("prometheus")
        except MissingBinaryError as exc:
            log(f"soak: {exc}; running without Prometheus")
            use_prometheus = False
    state_dir = Path(tempfile.mkdtemp(prefix="fleetobs-soak-"))
    config = FleetConfig(
        state_dir=state_dir,
        instances=options.instances,
        workers=options.workers,
        environment="soak",
        prometheus=use_prometheus,
        alertmanager=False,
        rules="none",
        scrape_interval="5s",
        env={"FLEETOBS_LOG_LEVEL": "WARNING"},
    )
    fleet = Fleet(config, log=log)
    samples: list[dict[str, Any]] = []
    started_at = dt.datetime.now(dt.UTC)
    duration = options.minutes * 60
    try:
        fleet.start()
        targets = [app.url for app in fleet.instances]
        log(
            f"soak: {options.instances} instance(s) x {options.workers} workers, {options.rate} req/s, "
            f"{options.minutes} min, sampling every {options.interval} s"
        )
        with LoadGenerator(targets, rate=options.rate, users=4) as load:
            time.sleep(options.prewarm)
            started = time.monotonic()
            next_sample = started
            while True:
                samples.extend(sample_fleet(fleet, started))
                next_sample += options.interval
                if next_sample - started > duration + 1e-6:
                    break
                time.sleep(max(0.0, next_sample - time.monotonic()))
            requests = load.stats.summary()
            outcomes = dict(load.stats.by_outcome())
    finally:
        fleet.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
    warmup = min(options.max_warmup, options.warmup_fraction * duration)
    verdicts = judge(samples, warmup)
    passed = all(v.passed for v in verdicts)
    result = {
        "started": started_at.isoformat(timespec="seconds"),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
        "prometheus": use_prometheus,
        "requests": requests,
        "outcomes": outcomes,
        "warmup_seconds": warmup,
        "passed": passed,
        "verdicts": [asdict(v) for v in verdicts],
        "samples": samples,
    }
    out = options.output_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{options.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    title = (
        f"Soak {started_at:%Y-%m-%d %H:%M} UTC: {options.instances}x{options.workers} workers, "
        f"{options.rate:g} req/s, {options.minutes:g} min ({requests})"
    )
    plot(samples, out / f"{options.name}.png", title + "\n(dotted line: end of warm-up)", warmup)
    log(f"soak: {requests}")
    log(markdown(verdicts))
    log(f"soak: {'PASS' if passed else 'FAIL'}; wrote {out / (options.name + '.png')} and .json")
    return result


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run (default 10)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("--rate", type=float, default=15.0, help="requests per second (default 15)")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT, help="where the PNG and JSON go")
    parser.add_argument("--name", default="soak", help="file name of the PNG and JSON, without suffix")
    parser.add_argument("--no-prometheus", dest="prometheus", action="store_false")
    parser.add_argument(
        "--prewarm", type=float, default=0.0, help="seconds of load before the first sample (default 0)"
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.interval <= 0 or args.rate <= 0:
        parser.error("--minutes, --interval and --rate must be positive")
    return Options(
        minutes=args.minutes,
        interval=args.interval,
        rate=args.rate,
        instances=args.instances,
        workers=args.workers,
        output_dir=args.output_dir,
        name=args.name,
        prometheus=args.prometheus,
        prewarm=args.prewarm,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    with contextlib.suppress(AttributeError):
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    result = run(options)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
