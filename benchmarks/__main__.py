"""``python -m benchmarks``: run the benchmarks, write the results JSON and the Markdown page."""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import configs, logs, machine, overhead, redaction, report

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DOCS = ROOT / "docs" / "performance.md"
SECTIONS = ("overhead", "footprint", "load", "scrape", "logs", "profile")


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


#: ``--configs`` / ``--rounds`` / ``--views``: narrow the overhead section (e.g. while optimising one path).
_overrides: dict[str, Any] = {}


def run_overhead(quick: bool) -> dict[str, Any]:
    if quick:
        requests = {view: max(20, count // 4) for view, count in overhead.REQUESTS.items()}
        plan = overhead.Plan(configs=configs.QUICK, rounds=3, requests=requests)
    else:
        plan = overhead.Plan(configs=configs.FULL, rounds=7, replicas=2)
    if _overrides.get("configs"):
        plan.configs = _overrides["configs"]
    if _overrides.get("rounds"):
        plan.rounds = _overrides["rounds"]
    if _overrides.get("views"):
        plan.views = _overrides["views"]
    return overhead.run(plan, _log)


def run_footprint(quick: bool) -> dict[str, Any]:
    from benchmarks import footprint

    return footprint.run(rounds=2 if quick else 5, log=_log)


def run_load(quick: bool) -> dict[str, Any]:
    from benchmarks import load

    plan = load.Plan(duration=3, rounds=1) if quick else load.Plan(duration=10, rounds=3)
    return load.run(plan, _log)


def run_scrape(quick: bool) -> dict[str, Any]:
    from benchmarks import scrape

    plan = scrape.Plan(workers=(4,), restarts=20, repeats=3) if quick else scrape.Plan()
    return scrape.run(plan, _log)


def run_logs(quick: bool) -> dict[str, Any]:
    section = logs.run(lines=3000 if quick else 20000, rounds=3 if quick else 5, log=_log)
    section["redaction"] = redaction.run(rounds=3 if quick else 5)
    return section


def run_profile(quick: bool) -> dict[str, Any]:
    worker = overhead.Worker("ours-100")
    try:
        worker.wait_ready()
        result: dict[str, Any] = {}
        plan = (("trivial", 6000), ("orm", 1500), ("raw-50", 150), ("orm-50", 100), ("applog", 6000))
        for view, full in plan:
            count = full // 6 if quick else full
            _log(f"profile: ours-100 {view}, {count} requests")
            # The profiler measures wall-clock time and slows the code down; an unprofiled run
            # first gives the CPU time per request its shares are scaled to.
            timed = worker.send({"cmd": "run", "view": view, "requests": count}, timeout=900)
            profiled = worker.send({"cmd": "profile", "view": view, "requests": count}, timeout=900)
            profiled["unprofiled_cpu_us"] = round(timed["cpu_ns"] / count / 1000, 1)
            result[view] = profiled
        _log("profile: our log pipeline (stdlib logger)")
        result["log-pipeline"] = logs.run_profile(lines=5000 if quick else 50000)
        return result
    finally:
        worker.close()


RUNNERS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "overhead": run_overhead,
    "footprint": run_footprint,
    "load": run_load,
    "scrape": run_scrape,
    "logs": run_logs,
    "profile": run_profile,
}


def _variation_note(results: dict[str, Any]) -> str | None:
    """``ours-default`` and ``ours-100`` do the same work: their gap shows the noise between processes."""
    entries = (results.get("overhead") or {}).get("configs", {})
    if "ours-default" not in entries or "ours-100" not in entries:
        return None
    gaps = []
    for view in entries["ours-100"]["views"]:
        a = entries["ours-default"]["views"][view]["cpu"]["overhead_us"]["median"]
        b = entries["ours-100"]["views"][view]["cpu"]["overhead_us"]["median"]
        gaps.append(f"{abs(a - b):.0f} µs on the {view} view")
    return (
        "`ours-default` and `ours-100` do identical work in two different processes; their difference ("
        + ", ".join(gaps)
        + ") shows how much two processes of the same configuration can differ (memory layout, "
        "hash seeds, what else ran on the machine). Smaller differences between configurations are noise."
    )


def _load_note(results: dict[str, Any]) -> str:
    """How much more a request's instrumentation costs under load than in-process."""
    load = (results.get("load") or {}).get("configs") or {}
    overhead = (results.get("overhead") or {}).get("configs") or {}

    def cpu(name: str) -> float | None:
        value: float | None = (load.get(name, {}).get("server_cpu_us_per_request") or {}).get("median")
        return value

    def in_process(name: str) -> float | None:
        views = overhead.get(name, {}).get("views", {})
        value: float | None = views.get("trivial", {}).get("cpu", {}).get("overhead_us", {}).get("median")
        return value

    bare = cpu("bare")
    pairs = []
    for name in ("ours-100", "minimal"):
        loaded, alone = cpu(name), in_process(name)
        if bare is not None and loaded is not None and alone is not None:
            pairs.append(f"`{name}` +{loaded - bare:.0f} µs against +{alone:.0f} µs")
    if not pairs:
        return ""
    return (
        "Under load the same instrumentation costs more server CPU per request than in the in-process "
        f"runs ({'; '.join(pairs)}): gunicorn's own work, the kernel's network stack and the load "
        "generator run between requests on the same cores, so every request starts with colder "
        "caches, and code that touches more memory pays more for it (this project also writes its "
        "metrics to the multiprocess files there). Measured separately on this "
        "kind of machine, a 16 MB memory sweep between in-process requests doubles both bare Django's "
        "time and the instrumentation's overhead."
    )


def _notes(results: dict[str, Any]) -> list[str]:
    from instrumentation.conf import Settings

    defaults = Settings()
    notes = []
    if defaults.traces_sampler_arg >= 1.0 and defaults.traces_sampler.startswith("parentbased"):
        notes.append(
            f"The default sampler ({defaults.traces_sampler}, ratio {defaults.traces_sampler_arg:g}) keeps "
            "every trace, so `ours-default` and `ours-100` do the same work."
        )
    notes.append(
        "Tracing records spans only when an OTLP endpoint is configured, so every configuration with "
        "tracing sets one; it is never contacted: the exporter's transport is replaced by an in-process "
        "sink that receives the encoded OTLP request and drops it."
    )
    notes.append(
        "The in-process configurations use prometheus_client's in-memory values, except `ours-100-mp`, "
        "which writes the multiprocess files a gunicorn deployment uses."
    )
    variation = _variation_note(results)
    if variation:
        notes.append(variation)
    load = _load_note(results)
    if load:
        notes.append(load)
    notes.append(
        "Reference figures for the anchor stack on this kind of machine, measured separately: bare Django "
        "about 65 µs per request, the three anchors together about +515 µs."
    )
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (results in results/quick.json)")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}"
    )
    parser.add_argument(
        "--output", type=Path, help="results JSON (default results/latest.json, or quick.json)"
    )
    parser.add_argument(
        "--docs",
        type=Path,
        help="Markdown page to write (default docs/performance.md; not written by --quick or --output "
        "unless given)",
    )
    parser.add_argument("--report-only", action="store_true", help="only regenerate the page from the JSON")
    parser.add_argument(
        "--configs", help=f"overhead configurations, comma-separated (known: {', '.join(configs.CONFIGS)})"
    )
    parser.add_argument("--rounds", type=int, help="overhead rounds")
    parser.add_argument(
        "--views",
        help=f"overhead views, comma-separated (known: {', '.join(overhead.VIEWS)}); raw-5,raw-50 "
        "alone give the cost per query",
    )
    args = parser.parse_args(argv)
    if args.configs:
        chosen = tuple(c.strip() for c in args.configs.split(",") if c.strip())
        for name in chosen:
            try:
                configs.get(name)
            except ValueError as exc:
                parser.error(str(exc))
        _overrides["configs"] = chosen
    if args.rounds:
        _overrides["rounds"] = args.rounds
    if args.views:
        views = tuple(v.strip() for v in args.views.split(",") if v.strip())
        unknown_views = [v for v in views if v not in overhead.VIEWS]
        if unknown_views:
            parser.error(f"unknown views: {', '.join(unknown_views)}")
        _overrides["views"] = views
    if (args.configs or args.rounds or args.views) and not args.output and not args.quick:
        parser.error("--configs/--rounds/--views give a partial run: pass --output (and --docs if wanted)")

    output = args.output or RESULTS / ("quick.json" if args.quick else "latest.json")
    # The page shows a full run: a quick run or one written elsewhere (--output) leaves it alone.
    docs = args.docs or (None if args.quick or args.output else DOCS)
    if args.report_only:
        saved: dict[str, Any] = json.loads(output.read_text())
        saved["notes"] = _notes(saved)
        output.write_text(json.dumps(saved, indent=2) + "\n")
        (docs or DOCS).write_text(report.render(saved))
        print(report.render(saved))
        return 0

    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in sections if s not in RUNNERS]
    if unknown:
        parser.error(f"unknown sections: {', '.join(unknown)}")
    results: dict[str, Any] = {"mode": "quick" if args.quick else "full", "machine": machine.describe()}
    errors: dict[str, str] = {}
    for section in sections:
        _log(f"section {section}")
        started = time.monotonic()
        try:
            results[section] = RUNNERS[section](args.quick)
        except Exception as exc:  # noqa: BLE001 - report the failure, run the other sections
            traceback.print_exc()
            errors[section] = f"{type(exc).__name__}: {exc}"[:2000]
        _log(f"section {section} took {time.monotonic() - started:.0f} s")
    results["notes"] = _notes(results)
    if errors:
        results["errors"] = errors
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    page = report.render(results)
    if docs is not None:
        docs.write_text(page)
        _log(f"wrote {docs}")
    _log(f"wrote {output}")
    print(page)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
