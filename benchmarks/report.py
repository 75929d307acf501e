"""The Markdown report (``docs/performance.md``), generated from a results JSON, never by hand."""

from __future__ import annotations

from typing import Any

from benchmarks import configs

TARGET_RATIO = 0.10
TARGET_THROUGHPUT = 0.85
TARGET_LOG_RATE = 100_000
TARGET_QUERY_US = 10.0
TARGET_DB_RATIO = 0.15


def _num(value: Any, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float | int):
        text = f"{value:,.{digits}f}"
        return text + suffix
    return str(value)


def _spread(summary: dict[str, Any] | None, digits: int = 0) -> str:
    if not summary:
        return "-"
    return f"{_num(summary.get('p25'), digits)}-{_num(summary.get('p75'), digits)}"


def _range(summary: dict[str, Any] | None, digits: int = 0) -> str:
    if not summary:
        return "-"
    return f"{_num(summary.get('min'), digits)}-{_num(summary.get('max'), digits)}"


def _table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    align = align or ("l" + "r" * (len(header) - 1))
    marks = [":--" if a == "l" else "--:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _headline(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    overhead = results.get("overhead") or {}
    ratios = overhead.get("ratio_ours_to_anchor", {})
    entries = overhead.get("configs", {})
    for view in overhead.get("views", []):
        ours = entries.get("ours-100", {}).get("views", {}).get(view, {})
        anchor = entries.get("anchor", {}).get("views", {}).get(view, {})
        bare = entries.get("bare", {}).get("views", {}).get(view, {})
        if not ours or not anchor:
            continue
        ratio = ratios.get("cpu", {}).get(view, {}).get("ours-100")
        wall_ratio = ratios.get("wall", {}).get(view, {}).get("ours-100")
        verdict = "meets" if ratio is not None and ratio <= TARGET_RATIO else "does not meet"
        lines.append(
            f"- **{_view_title(view)}**, everything on and 100% sampled: this project adds "
            f"**{_num(ours['cpu']['overhead_us']['median'])} µs** of CPU per request, the anchor stack "
            f"**{_num(anchor['cpu']['overhead_us']['median'])} µs** (bare Django: "
            f"{_num(bare['cpu']['us_per_request']['median'])} µs). Ratio **{_num(ratio, 2)}** "
            f"(wall-clock: {_num(wall_ratio, 2)}); the goal is ≤ {TARGET_RATIO:.2f}, "
            f"which this run {verdict}."
        )
    signals = [("ours-metrics", "metrics"), ("ours-traces", "traces"), ("ours-logs", "access log")]
    for view in overhead.get("views", []):
        parts = []
        for name, label in signals:
            data = entries.get(name, {}).get("views", {}).get(view, {}).get("cpu", {}).get("overhead_us")
            if data:
                parts.append(f"{label} +{_num(data['median'])} µs")
        minimal = entries.get("minimal", {}).get("views", {}).get(view, {}).get("cpu", {}).get("overhead_us")
        floor = (
            f"; the minimal reference middleware (`minimal`), all three at their barest, "
            f"+{_num(minimal['median'])} µs"
            if minimal
            else ""
        )
        if parts:
            lines.append(
                f"  - {_view_title(view)}, each signal alone (CPU): " + ", ".join(parts) + floor + "."
            )
    load = results.get("load") or {}
    if load.get("configs"):
        ours_load = load["configs"].get("ours-100", {})
        anchor_load = load["configs"].get("anchor", {})
        share = ours_load.get("throughput_vs_bare")
        capacity = ours_load.get("cpu_capacity_vs_bare")
        verdict = "meets" if share is not None and share >= TARGET_THROUGHPUT else "does not meet"
        lines.append(
            f"- **Under load** (gunicorn, {load['workers']} sync workers, wrk): this project serves "
            f"**{_num(share * 100 if share is not None else None)}%** of bare Django's requests per second "
            f"(anchor stack: {_num((anchor_load.get('throughput_vs_bare') or 0) * 100)}%); by server CPU "
            f"per request, {_num(capacity * 100 if capacity is not None else None)}% of bare's capacity. "
            f"The goal is ≥ {TARGET_THROUGHPUT:.0%} of bare's throughput, which this run {verdict}."
        )
        minimal_share = load["configs"].get("minimal", {}).get("throughput_vs_bare")
        if minimal_share is not None:
            lines.append(
                f"  - For scale: the minimal reference middleware (`minimal`: an in-memory histogram, "
                f"a span tuple nothing exports, one JSON line; none of this project's guarantees) "
                f"serves {_num(minimal_share * 100)}% of bare's requests per second on the same machine."
            )
    scrape = results.get("scrape") or {}
    restarts = scrape.get("restarts")
    for workers, entry in (scrape.get("workers") or {}).items():
        key = f"restarts_{restarts}"
        lines.append(
            f"- **Scrape**, {workers} workers, {scrape['routes']} routes: this project's collector "
            f"{_num(entry['ours']['restarts_0']['collect_ms'])} ms → "
            f"{_num(entry['ours'][key]['collect_ms'])} ms after {restarts} worker restarts "
            f"(x{_num(entry['ours_growth'], 2)}); prometheus_client's stock collector "
            f"{_num(entry['stock']['restarts_0']['collect_ms'])} ms → "
            f"{_num(entry['stock'][key]['collect_ms'])} ms (x{_num(entry['stock_growth'], 2)})."
        )
    logs = results.get("logs") or {}
    pipelines = logs.get("pipelines") or {}
    if pipelines:
        parts = [f"{name} {_num(entry['lines_per_second']['median'])}" for name, entry in pipelines.items()]
        verdicts = []
        for name, through in (("ours-structlog", "structlog"), ("ours-stdlib", "the standard library")):
            rate = pipelines.get(name, {}).get("lines_per_second", {}).get("median")
            if rate is not None:
                met = "meets" if rate >= TARGET_LOG_RATE else "does not meet"
                verdicts.append(f"a line logged through {through} ({_num(rate)}) {met} it")
        lines.append(
            "- **Log throughput** (JSON lines/s, same event): " + ", ".join(parts) + f". The goal is "
            f"≥ {TARGET_LOG_RATE:,} lines/s for this project's pipeline: in this run "
            + " and ".join(verdicts)
            + ". A standard-library line pays for the record and the handler walk before any "
            "formatting (python-json-logger's figure is that cost plus its own encoder)."
        )
    adversarial = logs.get("redaction")
    if adversarial:
        worst = adversarial["worst"]
        verdict = "meets" if worst["cpu_ms"] <= adversarial["target_ms"] else "does not meet"
        lines.append(
            f"- **Redaction of {adversarial['size'] // 1024} KB adversarial text**: worst shape "
            f"{worst['shape']} {_num(worst['cpu_ms'], 1)} ms of CPU; the goal is "
            f"≤ {adversarial['target_ms']:.0f} ms, which this run {verdict}."
        )
    lines.extend(_goal_lines(results))
    return lines


def _goal_lines(results: dict[str, Any]) -> list[str]:
    """The goals of the real export path, the per-query cost and the footprint."""
    lines: list[str] = []
    overhead = results.get("overhead") or {}
    entries = overhead.get("configs", {})
    for ours, ratios in (overhead.get("ratio_export") or {}).items():
        ratio = ratios.get("cpu", {}).get("trivial")
        wall = ratios.get("wall", {}).get("trivial")
        mine = entries[ours]["views"]["trivial"]["cpu"]["overhead_us"]["median"]
        anchor_name = ours.replace("ours-100", "anchor")
        theirs = entries[anchor_name]["views"]["trivial"]["cpu"]["overhead_us"]["median"]
        verdict = "meets" if ratio is not None and ratio <= TARGET_RATIO else "does not meet"
        lines.append(
            f"- **Real export** (`{ours}` against `{anchor_name}`, spans sent to a receiver process), "
            f"trivial view: +{_num(mine)} µs against +{_num(theirs)} µs of CPU, ratio **{_num(ratio, 2)}** "
            f"(wall-clock {_num(wall, 2)}); the goal is ≤ {TARGET_RATIO:.2f}, which this run {verdict}."
        )
    ours_q = entries.get("ours-100", {}).get("per_query_us") or {}
    anchor_q = entries.get("anchor", {}).get("per_query_us") or {}
    for kind, label in (("raw", "raw cursor"), ("orm", "ORM")):
        mine = (ours_q.get(kind) or {}).get("overhead_us_per_query") or {}
        theirs = (anchor_q.get(kind) or {}).get("overhead_us_per_query") or {}
        if not mine:
            continue
        verdict = (
            "meets"
            if mine.get("median") is not None and mine["median"] <= TARGET_QUERY_US
            else "does not meet"
        )
        lines.append(
            f"- **Per query** ({label}; the 50-query view minus the 5-query view, over 45 queries, over "
            f"bare's): this project **{_num(mine.get('median'), 1)} µs** (quartiles {_spread(mine, 1)}), "
            f"the anchor stack {_num(theirs.get('median'), 1)} µs. The goal is ≤ {TARGET_QUERY_US:.0f} µs "
            f"for the child span, metric and N+1 accounting, which this run {verdict}."
        )
    ratios = overhead.get("ratio_ours_to_anchor", {}).get("cpu", {})
    heavy = [(view, ratios.get(view, {}).get("ours-100")) for view in ("raw-5", "raw-50", "orm-5", "orm-50")]
    heavy = [(view, ratio) for view, ratio in heavy if ratio is not None]
    if heavy:
        met = all(ratio <= TARGET_DB_RATIO for _, ratio in heavy)
        lines.append(
            "- **Database-heavy views**, ours over the anchor with per-query instrumentation (CPU): "
            + ", ".join(f"{view} {_num(ratio, 2)}" for view, ratio in heavy)
            + f". The goal is ≤ {TARGET_DB_RATIO:.2f}, which this run "
            + ("meets." if met else "does not meet.")
        )
    footprint = (results.get("footprint") or {}).get("configs") or {}
    if "ours-100" in footprint and "anchor" in footprint:
        ours_f, anchor_f, bare_f = footprint["ours-100"], footprint["anchor"], footprint.get("bare", {})
        below = (
            ours_f["rss_mib"]["median"] < anchor_f["rss_mib"]["median"]
            and ours_f["import_ms"]["median"] < anchor_f["import_ms"]["median"]
        )
        lines.append(
            f"- **Per worker**: resident memory after warm-up {_num(ours_f['rss_mib']['median'], 1)} MiB "
            f"(anchor stack {_num(anchor_f['rss_mib']['median'], 1)}, bare "
            f"{_num(bare_f.get('rss_mib', {}).get('median'), 1)}); import and set-up "
            f"{_num(ours_f['import_ms']['median'])} ms (anchor {_num(anchor_f['import_ms']['median'])}, "
            f"bare {_num(bare_f.get('import_ms', {}).get('median'))}). The goal is both below the "
            f"anchor stack's, which this run {'meets' if below else 'does not meet'}."
        )
    return lines


def _footprint(section: dict[str, Any]) -> list[str]:
    lines = [
        f"One worker at a time, {section['rounds']} rounds interleaved: the time to import the WSGI "
        "application (`django.setup()` with the configuration's apps and the anchors' own set-up steps; "
        "not the interpreter's start), then the resident set after serving every view "
        f"{section['warmup_requests_per_view']} times. Median (quartiles); the difference to bare Django "
        "is the median of the round-by-round differences.",
        "",
    ]
    rows = []
    for name, entry in section["configs"].items():
        over = entry.get("over_bare") or {}
        rows.append(
            [
                f"`{name}`",
                f"{_num(entry['import_ms']['median'])} ({_spread(entry['import_ms'])})",
                _num((over.get("import_ms") or {}).get("median"), 0, " ms") if over else "-",
                f"{_num(entry['rss_mib']['median'], 1)} ({_spread(entry['rss_mib'], 1)})",
                _num((over.get("rss_mib") or {}).get("median"), 1, " MiB") if over else "-",
                _num(entry["peak_mib"]["median"], 1),
            ]
        )
    lines.extend(
        _table(["Configuration", "import ms", "over bare", "RSS MiB", "over bare", "peak MiB"], rows)
    )
    lines.append("")
    return lines


def _per_query(section: dict[str, Any]) -> list[str]:
    rows = []
    for name, entry in section["configs"].items():
        for kind, data in (entry.get("per_query_us") or {}).items():
            over = data.get("overhead_us_per_query") or {}
            rows.append(
                [
                    f"`{name}`",
                    kind,
                    _num(data["us_per_query"]["median"], 1),
                    _num(over.get("median"), 1) if over else "-",
                    _spread(over, 1) if over else "-",
                ]
            )
    if not rows:
        return []
    return [
        "### Cost per query",
        "",
        "Round by round: (µs per request of the 50-query view - the 5-query view) / 45, CPU time; "
        "the overhead is that minus bare Django's, paired by round. It holds everything a query costs "
        "the instrumentation: the child span (and its export), the duration metric, the request's "
        "N+1 tally; for the anchor, OpenTelemetry's dbapi span and django-prometheus's counters.",
        "",
        *_table(["Configuration", "views", "µs per query", "overhead µs", "quartiles"], rows),
        "",
    ]


def _export(section: dict[str, Any]) -> list[str]:
    pairs = section.get("ratio_export") or {}
    if not pairs:
        return []
    views = section["views"]
    rows = [
        [f"`{ours}` / anchor", metric, *[_num(ratios[metric].get(v), 2) for v in views]]
        for ours, ratios in pairs.items()
        for metric in ("cpu", "wall")
    ]
    received = section.get("receiver") or {}
    counts = ", ".join(
        f"{key}: {value['spans']:,} spans in {value['requests']:,} requests"
        for key, value in received.items()
    )
    return [
        "### Real export: ratio per view",
        "",
        "Overhead of this project over the anchor stack's when both send their spans to the same "
        "receiver process (OTLP/HTTP, OTLP/gRPC)." + (f" The receiver decoded {counts}." if counts else ""),
        "",
        *_table(["Pair", "time", *[f"`{v}`" for v in views]], rows),
        "",
    ]


def _view_title(view: str) -> str:
    return {
        "trivial": "Trivial view",
        "orm": "View with 5 ORM queries and a cache get",
        "applog": "Trivial view logging one application line",
        "raw-5": "Raw cursor, the same SELECT 5 times, one log line",
        "raw-50": "Raw cursor, the same SELECT 50 times, one log line",
        "orm-5": "ORM get() 5 times (N+1), one log line",
        "orm-50": "ORM get() 50 times (N+1), one log line",
        "log-pipeline": "Log pipeline alone, per line (the event of the log throughput table)",
    }.get(view, view)


def _machine(machine: dict[str, Any]) -> list[str]:
    packages = ", ".join(
        f"{name} {version}" for name, version in machine.get("packages", {}).items() if version
    )
    rows = [
        ["Date", machine.get("date", "")],
        [
            "CPU",
            f"{machine.get('cpu')} ({machine.get('usable_cores')} usable of {machine.get('cores')} cores)",
        ],
        ["Memory", f"{machine.get('memory_gb')} GB"],
        ["OS", machine.get("os", "")],
        ["Python", machine.get("python", "")],
        ["Load average at start", ", ".join(str(x) for x in machine.get("load_average_at_start") or [])],
        ["Packages", packages],
        ["Load generator", machine.get("wrk") or "-"],
        ["Revision measured", machine.get("revision") or "-"],
    ]
    return _table(["", ""], rows, "ll")


def _overhead(section: dict[str, Any]) -> list[str]:
    lines = [
        f"Each configuration runs in its own process; {section['rounds']} rounds, each serving "
        + ", ".join(f"{n} requests of the {v} view" for v, n in section["requests_per_round"].items())
        + " per configuration, configurations taking turns (rotating order)."
        + _replicas_text(section)
        + " Times include exporting "
        "the spans the requests produced. **CPU** is the process's CPU time (all threads, so "
        "background export work counts), steadier than wall-clock time on a busy machine; **wall** is "
        "wall-clock time. µs per request: median over the rounds, interquartile range. Overhead: median "
        "of the round-by-round differences from bare Django. The last columns divide a configuration's "
        "overhead by the anchor stack's.",
        "",
    ]
    ratios = section.get("ratio_ours_to_anchor", {})
    for view in section["views"]:
        lines.append(f"### {_view_title(view)}")
        lines.append("")
        rows = []
        for name, entry in section["configs"].items():
            cpu = entry["views"][view]["cpu"]
            wall = entry["views"][view]["wall"]
            cpu_ratio = ratios.get("cpu", {}).get(view, {}).get(name)
            wall_ratio = ratios.get("wall", {}).get(view, {}).get(name)
            rows.append(
                [
                    f"{entry['label']} (`{name}`)",
                    _num(cpu["us_per_request"].get("median")),
                    _spread(cpu["us_per_request"]),
                    _num(cpu["overhead_us"]["median"]) if cpu["overhead_us"] else "-",
                    _spread(cpu["overhead_us"]) if cpu["overhead_us"] else "-",
                    _num(wall["us_per_request"].get("median")),
                    _num(wall["overhead_us"]["median"]) if wall["overhead_us"] else "-",
                    _num(cpu_ratio, 2) if cpu_ratio is not None else "-",
                    _num(wall_ratio, 2) if wall_ratio is not None else "-",
                ]
            )
        lines.extend(
            _table(
                [
                    "Configuration",
                    "CPU µs/req",
                    "IQR",
                    "CPU overhead µs",
                    "IQR",
                    "wall µs/req",
                    "wall overhead µs",
                    "/ anchor (CPU)",
                    "/ anchor (wall)",
                ],
                rows,
            )
        )
        lines.append("")
    lines.append("Per configuration, checked before timing (a few requests with standard output captured):")
    lines.append("")
    rows = []
    for name, entry in section["configs"].items():
        probe = entry.get("probe", {})
        spans = entry.get("spans_exported") or {}
        spans_text = ", ".join(f"{k} {v:,}" for k, v in spans.items()) or "-"
        rows.append(
            [
                f"`{name}`",
                _num(probe.get("log_lines_per_request"), 1),
                _num(probe.get("log_line_bytes")),
                spans_text,
                probe.get("sink") or "-",
            ]
        )
    lines.extend(
        _table(
            ["Configuration", "log lines/request", "bytes/line", "exported in the run", "span sink"],
            rows,
            "lrrll",
        )
    )
    lines.append("")
    described = [
        f"- `{c.name}`: {c.label}"
        + (f" — settings `{_settings_text(c.ours)}`" if c.ours is not None else "")
        + (f"; {c.notes}" if c.notes else "")
        for c in configs.CONFIGS.values()
        if c.name in section["configs"]
    ]
    lines.extend(["Configurations:", "", *described, ""])
    return lines


def _replicas_text(section: dict[str, Any]) -> str:
    several = [name for name, count in section.get("processes", {}).items() if count > 1]
    if not several:
        return ""
    count = section["processes"][several[0]]
    names = ", ".join(f"`{n}`" for n in several)
    return (
        f" {names} run in {count} processes each, their rounds averaged (processes of one "
        "configuration differ a little)."
    )


def _settings_text(settings: dict[str, Any] | None) -> str:
    if not settings:
        return "{}"
    shown = {k: v for k, v in settings.items() if k not in {"SERVICE_NAME", "SERVICE_VERSION", "ENVIRONMENT"}}
    return ", ".join(f"{k}={v!r}" for k, v in shown.items()) or "defaults"


def _load(section: dict[str, Any]) -> list[str]:
    lines = [
        f"gunicorn with {section['workers']} {section['worker_class']} workers serving `{section['path']}`, "
        f"`wrk {section['wrk']}`, {section['rounds']} rounds with the servers taking turns; medians over "
        "the rounds. This project runs with its gunicorn hooks (multiprocess metrics), the anchor stack "
        "with prometheus_client's stock multiprocess setup, "
        + (
            "bare Django and the minimal reference middleware with gunicorn's defaults."
            if "minimal" in section["configs"]
            else "bare Django with gunicorn's defaults."
        ),
        "",
    ]
    rows = []
    for name, entry in section["configs"].items():
        cpu = entry.get("server_cpu_us_per_request") or {}
        capacity = entry.get("cpu_capacity_vs_bare")
        rows.append(
            [
                f"{configs.get(name).label} (`{name}`)",
                _num(entry["rps"].get("median")),
                _range(entry["rps"]),
                _num((entry.get("throughput_vs_bare") or 0) * 100, 0, "%"),
                _num(entry["p50_ms"].get("median"), 2),
                _num(entry["p99_ms"].get("median"), 2),
                _num(cpu.get("median")),
                _num(capacity * 100, 0, "%") if capacity is not None else "-",
            ]
        )
    lines.extend(
        _table(
            [
                "Configuration",
                "req/s",
                "req/s min-max",
                "vs bare",
                "p50 ms",
                "p99 ms",
                "server CPU µs/req",
                "CPU capacity vs bare",
            ],
            rows,
        )
    )
    lines.append("")
    return lines


def _scrape(section: dict[str, Any]) -> list[str]:
    restarts = section["restarts"]
    key = f"restarts_{restarts}"
    lines = [
        f"A gunicorn instance (`--preload`) with the {section['routes']}-route URLconf; every worker "
        f"served each route once before it counts as warm. Then {restarts} worker restarts "
        f"(SIGTERM, {section['batch']} at a time, each replacement warmed). Collection and rendering "
        f"(`generate_latest`) timed on copies of the metrics directory, median of {section['repeats']}. "
        "`ours`: `instrumentation.gunicorn` hooks (dead workers merged) and `FleetCollector`; "
        "`stock`: prometheus_client's `mark_process_dead` in `child_exit` and its `MultiProcessCollector`. "
        "The request counts summed over the exposition are compared with the requests served.",
        "",
    ]
    rows = []
    for workers, entry in section["workers"].items():
        for kind in ("ours", "stock"):
            data = entry[kind]
            before, after = data["restarts_0"], data[key]
            counts_ok = after.get("requests_counted") == data.get("expected_requests")
            rows.append(
                [
                    workers,
                    kind,
                    _num(before["collect_ms"]),
                    _num(before["files"]),
                    _num(after["collect_ms"]),
                    _num(after["files"]),
                    f"x{_num(entry[f'{kind}_growth'], 2)}",
                    _num(after["bytes"] / 1024, 0, " KiB"),
                    "yes"
                    if counts_ok
                    else f"no ({after.get('requests_counted')} of {data.get('expected_requests')})",
                    _num(after.get("http", {}).get("ms")) if "http" in after else "-",
                ]
            )
    lines.extend(
        _table(
            [
                "workers",
                "collector",
                "ms, 0 restarts",
                "files",
                f"ms, {restarts} restarts",
                "files",
                "growth",
                "size",
                "all requests counted",
                "HTTP /metrics ms",
            ],
            rows,
            "llrrrrrrlr",
        )
    )
    lines.append("")
    return lines


def _logs(section: dict[str, Any]) -> list[str]:
    lines = [
        f"The same event (message, logger, level, timestamp and {len(section['fields'])} fields) formatted "
        f"as one JSON line and written to a null stream; {section['rounds']} rounds of "
        f"{section['lines_per_round']:,} lines, each pipeline in its own process.",
        "",
    ]
    rows = []
    for name, entry in section["pipelines"].items():
        rate = entry["lines_per_second"]
        rows.append(
            [
                f"`{name}`",
                _num(rate.get("median")),
                _range(rate),
                _num(1e6 / rate["median"], 1) if rate.get("median") else "-",
                _num(entry.get("relative_to_ours_stdlib"), 2),
                _num(len(entry.get("sample_keys", []))),
            ]
        )
    lines.extend(
        _table(["Pipeline", "lines/s", "min-max", "µs/line", "vs ours-stdlib", "fields in the line"], rows)
    )
    lines.append("")
    adversarial = section.get("redaction")
    if adversarial:
        lines += [
            f"Redaction of {adversarial['size'] // 1024} KB of adversarial text, CPU time (best of "
            f"{adversarial['rounds']}; see `benchmarks/redaction.py` for the shapes):",
            "",
            *_table(
                ["Shape", "ms"],
                [[f"`{entry['shape']}`", _num(entry["cpu_ms"], 1)] for entry in adversarial["shapes"]],
            ),
            "",
        ]
    return lines


def _profile(section: dict[str, Any]) -> list[str]:
    lines = [
        "A statistical profile of `ours-100` (wall-clock samples of the request thread). The profiler "
        "slows everything down, so each function's share of the profiled request is also shown scaled "
        "to the CPU time an unprofiled request of the same process took (≈ µs). Time spent on the "
        "export thread (encoding spans) is not in these tables; it is in the overhead figures above.",
        "",
    ]
    for view, data in section.items():
        if not isinstance(data, dict) or "entry_points" not in data:
            continue
        total = data.get("total_us") or 0.0
        unprofiled = data.get("unprofiled_cpu_us")
        scale = (unprofiled / total) if unprofiled and total else None

        def row(entry: dict[str, Any], scale: float | None = scale, total: float = total) -> list[str]:
            value = entry["us_per_request"]
            share = value / total * 100 if total else None
            return [
                f"`{entry['function']}`",
                _num(share, 1, "%"),
                _num(value * scale, 1) if scale else "-",
            ]

        lines.append(f"### `ours-100`, {_view_title(view).lower()}")
        lines.append("")
        own = data.get("instrumentation_us")
        lines.append(
            f"{data['tool']}, {data['requests']:,} requests. Under the profiler a request took "
            f"{_num(total)} µs of wall-clock time, {_num(own / total * 100 if own and total else None, 0)}% "
            f"of it in this project's code and the libraries it calls"
            + (
                f"; unprofiled, a request took {_num(unprofiled)} µs of CPU, so the instrumentation's "
                f"share is ≈ {_num(own * scale if own and scale else None)} µs."
                if scale
                else "."
            )
        )
        lines.append("")
        lines.extend(
            _table(
                ["This project's function (inclusive)", "% of request", "≈ µs"],
                [row(e) for e in data["entry_points"]],
            )
        )
        lines.append("")
        lines.extend(
            _table(
                ["Self time inside the instrumentation", "% of request", "≈ µs"],
                [row(e) for e in data["hot_functions"]],
            )
        )
        lines.append("")
    return lines


def render(results: dict[str, Any]) -> str:
    mode = results.get("mode", "full")
    lines = [
        "# Performance",
        "",
        "<!-- Generated by `python -m benchmarks` (make bench) from benchmarks/results/latest.json. "
        "Do not edit by hand. -->",
        "",
        "What the instrumentation costs, measured against bare Django and against the stack it replaces "
        "(django-prometheus + OpenTelemetry's Django instrumentation + django-structlog, each set up as its "
        "documentation says). Exporters point at in-process sinks that encode spans as OTLP and discard "
        "them; "
        "log lines go to `/dev/null` or a null stream, so only the instrumentation is measured.",
        "",
        f"Run mode: `{mode}`.",
        "",
        "## Summary",
        "",
        *_headline(results),
        "",
        "## Machine",
        "",
        *_machine(results.get("machine", {})),
        "",
    ]
    if results.get("overhead"):
        lines += [
            "## Request overhead (in-process, Django's WSGI handler)",
            "",
            *_overhead(results["overhead"]),
            *_export(results["overhead"]),
            *_per_query(results["overhead"]),
        ]
    if results.get("footprint"):
        lines += ["## Per-worker footprint: import time and memory", "", *_footprint(results["footprint"])]
    if results.get("load"):
        lines += ["## Under load (gunicorn + wrk)", "", *_load(results["load"])]
    if results.get("scrape"):
        lines += ["## Scrape cost (`/metrics`) and worker restarts", "", *_scrape(results["scrape"])]
    if results.get("logs"):
        lines += ["## Log throughput", "", *_logs(results["logs"])]
    if results.get("profile"):
        lines += ["## Where the microseconds go (profile)", "", *_profile(results["profile"])]
    notes = results.get("notes") or []
    if notes:
        lines += ["## Notes", "", *[f"- {note}" for note in notes], ""]
    errors = results.get("errors") or {}
    if errors:
        lines += ["## Sections that failed", "", *[f"- {k}: `{v}`" for k, v in errors.items()], ""]
    lines += [
        "## Running the benchmarks",
        "",
        "```",
        "make bench                                    # everything: this page and results/latest.json",
        ".venv/bin/python -m benchmarks --quick        # a fast run, results in results/quick.json",
        ".venv/bin/python -m benchmarks --sections overhead --configs bare,ours-100,anchor \\",
        "    --rounds 5 --output /tmp/overhead.json --docs /tmp/overhead.md",
        ".venv/bin/python -m benchmarks --report-only  # regenerate this page from latest.json",
        "```",
        "",
        "Timings vary with the machine and with whatever else runs on it; compare configurations within "
        "one run (they are interleaved so they share the machine's conditions), not across runs.",
        "",
    ]
    return "\n".join(lines)
