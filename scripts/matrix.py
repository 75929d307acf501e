#!/usr/bin/env python3
"""Builds and runs the test matrix of constraints/matrix.toml: one virtualenv per cell.

    python3 scripts/matrix.py run [--cells a,b] [--jobs N] [--upstream]
    python3 scripts/matrix.py list
    python3 scripts/matrix.py requirement CELL     # the Django requirement of one cell

Each cell other than the main one (``venv = ".venv"``, built by ``make install``) gets
``.matrix/<cell>/``: a virtualenv made by the cell's interpreter, with the project installed
editable (``.[dev]``) under ``constraints/test.txt`` and the cell's Django release. A cell's
virtualenv is rebuilt only when what went into it changed (the constraints, pyproject.toml, the
interpreter, the Django requirement), so a second run goes straight to the tests.

Cells run in parallel (``--jobs``, default ``$MATRIX_JOBS`` or 2); suites marked ``exclusive``
share fixed Redis databases and take one lock, so no two cells run them at once. In the main
cell, ``all`` runs the suite without those files first, then those files under the lock.
Installs are serialised too: every editable install writes the same egg-info in the checkout.
Each cell's output goes to ``.matrix/logs/<cell>.log``; the summary gives each cell's time and
the tail of a failing log.

``--upstream`` lifts the pins on Django (to the newest patch release of each cell's series, and
the newest release of all on the newest cell), OpenTelemetry, prometheus_client, structlog and
the Elasticsearch client: what a user installing today gets from those projects.

Interpreters: ``$PYTHON312`` (and so on) when set, else the newest matching version that pyenv
has, else ``python3.12`` on PATH.

Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MATRIX_FILE = ROOT / "constraints" / "matrix.toml"
CONSTRAINTS = ROOT / "constraints" / "test.txt"
WORK = ROOT / ".matrix"
LOGS = WORK / "logs"

#: Distributions whose pins ``--upstream`` lifts (compared after PEP 503 normalisation).
UPSTREAM = re.compile(
    r"^(django|opentelemetry-.*|prometheus-client|structlog|elasticsearch|elastic-transport)$"
)

_exclusive = threading.Lock()
_install = threading.Lock()
_print = threading.Lock()
#: pytest's closing line, "=== 3 failed, 895 passed, 7 skipped in 293.65s (0:04:53) ===".
_PYTEST_SUMMARY = re.compile(r"^=+ (?P<outcomes>.+?) in [\d.]+s\b.*=+$")
_OUTCOME = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)\b")


@dataclass
class Cell:
    name: str
    python: str
    django: str
    suites: list[str]
    venv: Path
    main: bool
    results: list[tuple[str, bool, float]] = field(default_factory=list)
    error: str = ""
    installed: str = ""  # the Django release the cell's virtualenv holds
    counts: Counter[str] = field(default_factory=Counter)  # pytest's outcomes, summed over steps

    @property
    def log(self) -> Path:
        return LOGS / f"{self.name}.log"

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


def load() -> dict:
    with MATRIX_FILE.open("rb") as handle:
        return tomllib.load(handle)


def cells(matrix: dict) -> list[Cell]:
    out = []
    for entry in matrix["cell"]:
        main = entry.get("venv") == ".venv"
        venv = ROOT / ".venv" if main else WORK / entry["name"]
        out.append(Cell(entry["name"], entry["python"], entry["django"], entry["suites"], venv, main))
    return out


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement(matrix: dict, cell: Cell, *, upstream: bool) -> str:
    series = cell.django
    if not upstream:
        return f"Django=={matrix['django'][series]['latest']}"
    newest = max(matrix["django"], key=lambda version: tuple(map(int, version.split("."))))
    if series == newest:
        return f"Django>={series}"
    return f"Django~={series}.0"


def interpreter(version: str) -> str:
    override = os.environ.get("PYTHON" + version.replace(".", ""))
    if override:
        return override
    pyenv = shutil.which("pyenv")
    if pyenv:
        found = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True, check=False)
        candidates = [
            v.strip() for v in found.stdout.split() if re.fullmatch(rf"{re.escape(version)}\.\d+", v.strip())
        ]
        if candidates:
            best = max(candidates, key=lambda v: tuple(map(int, v.split("."))))
            prefix = subprocess.run([pyenv, "prefix", best], capture_output=True, text=True, check=True)
            return str(Path(prefix.stdout.strip()) / "bin" / "python3")
    on_path = shutil.which(f"python{version}")
    if on_path:
        return on_path
    raise LookupError(
        f"no Python {version}: install it with pyenv, put python{version} on PATH, "
        f"or set PYTHON{version.replace('.', '')}=/path/to/python{version}"
    )


def constraints_file(*, upstream: bool) -> Path:
    if not upstream:
        return CONSTRAINTS
    kept = []
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        name = line.split("==", 1)[0].strip()
        if line.startswith("#") or not name or not UPSTREAM.match(normalise(name)):
            kept.append(line)
    path = WORK / "constraints-upstream.txt"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return path


def run(cmd: list[str], cell: Cell, *, env: dict[str, str] | None = None, tally: bool = False) -> int:
    """Runs one step with its output appended to the cell's log; a test step's outcomes are counted."""
    with cell.log.open("a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        start = log.tell()
        code = subprocess.run(
            cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, check=False
        ).returncode
    if tally:
        count(cell, start, code, pytest="pytest" in cmd)
    return code


def count(cell: Cell, start: int, code: int, *, pytest: bool) -> None:
    """Adds a step's outcomes to the cell's: pytest's closing line, or one check for a script."""
    if not pytest:
        cell.counts["passed" if code == 0 else "failed"] += 1
        return
    with cell.log.open(encoding="utf-8", errors="replace") as log:
        log.seek(start)
        summaries = [m for m in map(_PYTEST_SUMMARY.match, log.read().splitlines()) if m]
    if not summaries:
        cell.counts["failed"] += 1  # pytest died before its summary
        return
    for number, outcome in _OUTCOME.findall(summaries[-1]["outcomes"]):
        cell.counts["error" if outcome.startswith("error") else outcome] += int(number)


def build(matrix: dict, cell: Cell, *, upstream: bool) -> None:
    """Creates or refreshes the cell's virtualenv; the main one only has its Django checked."""
    req = requirement(matrix, cell, upstream=upstream)
    if cell.main:
        if not (cell.bin / "python").exists():
            raise RuntimeError(f"{cell.venv} does not exist: run `make install` first")
        if upstream:
            pins = constraints_file(upstream=True)
            extra = sorted({normalise(n) for n in _upstream_names()})
            with _install:
                code = run(
                    [
                        str(cell.bin / "python"),
                        "-m",
                        "pip",
                        "install",
                        "-q",
                        "--upgrade",
                        "-c",
                        str(pins),
                        req,
                        *extra,
                    ],
                    cell,
                )
            if code:
                raise RuntimeError("pip install failed")
        return
    python = interpreter(cell.python)
    pins = constraints_file(upstream=upstream)
    digest = hashlib.sha256()
    for part in (pins.read_bytes(), (ROOT / "pyproject.toml").read_bytes(), python.encode(), req.encode()):
        digest.update(part)
    stamp = cell.venv / ".installed"
    if stamp.exists() and stamp.read_text(encoding="utf-8") == digest.hexdigest():
        return
    with _install:
        shutil.rmtree(cell.venv, ignore_errors=True)
        steps = [
            [python, "-m", "venv", str(cell.venv)],
            [
                str(cell.bin / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--upgrade",
                "pip",
                "setuptools",
                "wheel",
            ],
            [str(cell.bin / "python"), "-m", "pip", "install", "-q", "-c", str(pins), "-e", ".[dev]", req]
            + (["--upgrade", *sorted(_upstream_names())] if upstream else []),
        ]
        for step in steps:
            if run(step, cell):
                raise RuntimeError(f"install step failed: {' '.join(step)}")
    stamp.write_text(digest.hexdigest(), encoding="utf-8")


def _upstream_names() -> list[str]:
    names = []
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        name = line.split("==", 1)[0].strip()
        if name and not line.startswith("#") and UPSTREAM.match(normalise(name)):
            names.append(name)
    return names


def check_django(matrix: dict, cell: Cell, env: dict[str, str]) -> None:
    probe = "import django, sys; print(django.get_version(), '%d.%d' % sys.version_info[:2])"
    out = subprocess.run(
        [str(cell.bin / "python"), "-c", probe], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    django_version, python_version = out
    cell.installed = django_version
    with cell.log.open("a", encoding="utf-8") as log:
        log.write(f"\nDjango {django_version} on Python {python_version}\n")
    if python_version != cell.python:
        raise RuntimeError(f"{cell.venv} runs Python {python_version}, not {cell.python}")
    if ".".join(django_version.split(".")[:2]) != cell.django:
        raise RuntimeError(f"{cell.venv} has Django {django_version}, not {cell.django}.x")


def suite_steps(matrix: dict, cell: Cell, suite: str, *, upstream: bool) -> list[tuple[list[str], bool]]:
    """The commands a suite runs in this cell, each with whether it takes the exclusive lock."""
    suites = matrix["suite"]
    spec = suites[suite]
    python = str(cell.bin / "python")
    if "script" in spec:
        # The script makes its own virtualenv from the cell's interpreter, not from its venv.
        base = subprocess.run(
            [python, "-c", "import sys; print(sys._base_executable)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return [
            (
                [
                    python,
                    str(ROOT / spec["script"]),
                    "--python",
                    base,
                    "--django",
                    requirement(matrix, cell, upstream=upstream),
                    "--constraints",
                    str(constraints_file(upstream=upstream)),
                ],
                False,
            )
        ]
    pytest = [python, "-m", "pytest", "-p", "no:cacheprovider"]
    if suite != "all":
        return [([*pytest, *spec["args"]], bool(spec.get("exclusive")))]
    locked = [a for s in suites.values() if s.get("exclusive") for a in s["args"] if a.startswith("tests/")]
    return [([*pytest, *(f"--ignore={path}" for path in locked)], False), ([*pytest, *locked], True)]


def run_cell(matrix: dict, cell: Cell, *, upstream: bool) -> Cell:
    cell.log.write_text(f"# {cell.name}\n", encoding="utf-8")
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(cell.venv)
    env["PATH"] = f"{cell.bin}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    started = time.monotonic()
    try:
        build(matrix, cell, upstream=upstream)
        check_django(matrix, cell, env)
    except (RuntimeError, LookupError, subprocess.CalledProcessError) as exc:
        cell.error = str(exc)
        cell.results.append(("install", False, time.monotonic() - started))
        report(cell, "install", ok=False, seconds=time.monotonic() - started)
        return cell
    cell.results.append(("install", True, time.monotonic() - started))
    for suite in cell.suites:
        began = time.monotonic()
        ok = True
        for cmd, exclusive in suite_steps(matrix, cell, suite, upstream=upstream):
            if exclusive:
                with _exclusive:
                    code = run(cmd, cell, env=env, tally=True)
            else:
                code = run(cmd, cell, env=env, tally=True)
            ok = ok and code == 0
        cell.results.append((suite, ok, time.monotonic() - began))
        report(cell, suite, ok=ok, seconds=time.monotonic() - began)
    return cell


def freeze(matrix: dict, main: Cell, *, upgrade: bool) -> int:
    """Pins what the main virtualenv holds (after upgrading it, if asked), Django excepted."""
    python = str(main.bin / "python")
    if upgrade:
        req = requirement(matrix, main, upstream=False)
        subprocess.run(
            [python, "-m", "pip", "install", "-q", "--upgrade", "-e", ".[dev,bench]", req],
            cwd=ROOT,
            check=True,
        )
    frozen = subprocess.run(
        [python, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    header = [line for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    pins = [line for line in frozen if line and normalise(line.split("==", 1)[0]) != "django"]
    CONSTRAINTS.write_text("\n".join(header + pins) + "\n", encoding="utf-8")
    print(f"{CONSTRAINTS.relative_to(ROOT)}: {len(pins)} pins")
    return 0


def report(cell: Cell, what: str, *, ok: bool, seconds: float) -> None:
    with _print:
        print(f"  {cell.name:<16} {what:<11} {'ok' if ok else 'FAILED':<7} {minutes(seconds)}", flush=True)


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="build and run cells")
    run_parser.add_argument("--cells", default=os.environ.get("CELLS", ""), help="comma-separated names")
    run_parser.add_argument("--jobs", type=int, default=int(os.environ.get("MATRIX_JOBS", "2")))
    run_parser.add_argument(
        "--upstream", action="store_true", help="newest Django, OTel, prometheus_client, ..."
    )
    sub.add_parser("list", help="print the cells")
    req_parser = sub.add_parser("requirement", help="print a cell's Django requirement")
    req_parser.add_argument("cell", help="a cell's name, or `main` for the main virtualenv's")
    freeze_parser = sub.add_parser("freeze", help="rewrite constraints/test.txt from the main virtualenv")
    freeze_parser.add_argument("--upgrade", action="store_true", help="upgrade the main virtualenv first")
    args = parser.parse_args(argv)

    matrix = load()
    every = cells(matrix)
    if args.command == "list":
        for cell in every:
            print(f"{cell.name:<16} Python {cell.python}  Django {cell.django:<5} {' '.join(cell.suites)}")
        return 0
    if args.command == "requirement":
        (cell,) = [c for c in every if c.name == args.cell or (args.cell == "main" and c.main)]
        print(requirement(matrix, cell, upstream=False))
        return 0
    if args.command == "freeze":
        return freeze(matrix, next(c for c in every if c.main), upgrade=args.upgrade)

    chosen = every
    if args.cells:
        wanted = args.cells.split(",")
        unknown = set(wanted) - {c.name for c in every}
        if unknown:
            parser.error(f"unknown cells: {', '.join(sorted(unknown))}")
        chosen = [c for c in every if c.name in wanted]
    LOGS.mkdir(parents=True, exist_ok=True)
    print(
        f"Test matrix: {len(chosen)} cells, {args.jobs} at a time; logs in {LOGS.relative_to(ROOT)}/",
        flush=True,
    )
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        done = list(pool.map(lambda c: run_cell(matrix, c, upstream=args.upstream), chosen))
    total = time.monotonic() - started

    print("\nCell             Python Django  Result  Time    Suites")
    failed = []
    for cell in done:
        ok = all(result for _, result, _ in cell.results)
        seconds = sum(t for _, _, t in cell.results)
        suites = ", ".join(
            f"{name} {minutes(t)}" + ("" if res else " FAILED") for name, res, t in cell.results
        )
        result = "ok" if ok else "FAILED"
        django = cell.installed or cell.django
        print(f"{cell.name:<16} {cell.python:<6} {django:<7} {result:<7} {minutes(seconds):<7} {suites}")
        if not ok:
            failed.append(cell)
    for cell in failed:
        lines = cell.log.read_text(encoding="utf-8", errors="replace").splitlines()
        print(f"\n--- {cell.name}: {cell.error or 'failed'} (see {cell.log.relative_to(ROOT)}) ---")
        print(
            "\n".join(line for line in lines if line.startswith(("FAILED ", "ERROR ")))
            or "\n".join(lines[-40:])
        )
    total_counts: Counter[str] = sum((cell.counts for cell in done), Counter())
    print(f"\nTotal wall time: {minutes(total)}")
    # The closing line CI reads: every test of every cell (the wheel check counts as one).
    closing = (
        f"matrix: {total_counts['passed']} passed, {total_counts['failed'] + total_counts['error']} failed"
    )
    print(closing + (f", {total_counts['skipped']} skipped" if total_counts["skipped"] else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
