"""Every generated file of the repository, and the generator that writes it.

``fleetobs generate`` (:mod:`fleetobs_cli.generate`) runs :data:`GENERATORS` in this order. Each
renders the text of its files by calling the functions its area's own command calls, so the
files are byte for byte what that command writes; the command is named when a file is stale::

    docs/metrics.md                         catalogue       fleetobs docs generate
    docs/logging.md, fields section         log fields      (fleetobs generate)
    docs/scaling.md, series-estimate part   series estimate python -m tests.deploy.series_estimate --write ...
    docs/performance.md                     benchmark page  (fleetobs generate; make bench reruns them)
    compose/grafana/dashboards/*.json,      dashboards      fleetobs dashboards generate --out ...
      compose/grafana/provisioning/**
    compose/prometheus/rules/*.yml,         alerts          fleetobs alerts generate --layout compose ...
      compose/alertmanager/alertmanager.yml
    deploy/kubernetes/base/dashboards/*,    Kubernetes      python deploy/kubernetes/sync_generated.py
      deploy/kubernetes/base/generated/*
    tests/alerting/promtool/*.yml           promtool cases  python -m tests.alerting.promtool_cases

A generator may own a pattern (``compose/grafana/dashboards/*.json``): a file matching it that the
generator no longer writes is stale too, and ``fleetobs generate`` removes it. Four generators
live outside the shipped packages (under tests/, deploy/ and benchmarks/), so the whole set exists
only in a checkout: :func:`checkout` returns the one this code runs from, or raises the usage
error that says so.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from fleetobs_cli import UsageError

__all__ = ["CODE_ROOT", "GENERATORS", "Generator", "Plan", "checkout"]

#: Where this code runs from: the checkout, when it is one (not an installed wheel).
CODE_ROOT = Path(__file__).resolve().parent.parent
#: Files only a checkout has; generation needs every one.
SOURCES = (
    "pyproject.toml",
    "compose/prometheus/slo.yaml",
    "deploy/kubernetes/sync_generated.py",
    "tests/alerting/promtool_cases.py",
    "tests/deploy/series_estimate.py",
    "benchmarks/report.py",
    "benchmarks/results/latest.json",
)
EVERYTHING = "fleetobs generate"


def checkout(root: Path) -> Path:
    """``root`` if it is a checkout of this project; else the usage error naming what is missing."""
    missing = [source for source in SOURCES if not (root / source).is_file()]
    if missing:
        raise UsageError(
            f"{root} is not a Fleet Observability checkout ({missing[0]} is missing): this command "
            "rewrites the repository's generated files, so run it from a clone; to write dashboards, "
            "rules or docs for your own deployment use fleetobs dashboards generate, "
            "fleetobs alerts generate or fleetobs docs generate"
        )
    return root


@dataclass(frozen=True)
class Plan:
    """What one generator would change under a checkout."""

    #: Relative path -> the text the generator writes.
    expected: dict[str, str]
    #: Relative paths whose file is missing or differs from the expected text.
    stale: list[str]
    #: Relative paths matching an owned pattern that the generator does not write.
    leftovers: list[str]


@dataclass(frozen=True)
class Generator:
    """One area's generated files."""

    name: str
    #: The narrowest command that rewrites these files.
    command: str
    render: Callable[[Path], dict[str, str]]
    #: Glob patterns (relative to the checkout) of files only this generator writes.
    owns: tuple[str, ...] = ()

    def plan(self, root: Path) -> Plan:
        expected = self.render(root)
        stale = [
            path
            for path, text in expected.items()
            if not (root / path).is_file() or (root / path).read_bytes() != text.encode("utf-8")
        ]
        owned = {p.relative_to(root).as_posix() for pattern in self.owns for p in root.glob(pattern)}
        return Plan(expected, stale, sorted(owned - set(expected)))


# --- the generators -------------------------------------------------------------------------------


def _read(root: Path, relative: str) -> str:
    return (root / relative).read_text(encoding="utf-8")


def _section(root: Path, relative: str, start: str, end: str, body: str) -> str:
    """The file with the text between its ``start`` and ``end`` markers replaced by ``body``."""
    document = _read(root, relative)
    before, found, rest = document.partition(start)
    _, found_end, after = rest.partition(end)
    if not (found and found_end):
        raise UsageError(
            f"{relative}: the markers {start.strip()} ... {end.strip()} are missing; put them back"
        )
    return f"{before}{start}{body}{end}{after}"


def _repository_module(root: Path, name: str) -> ModuleType:
    """A module of the checkout outside the shipped packages (``tests.…``, ``benchmarks.…``)."""
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(root))


def _script(root: Path, relative: str) -> ModuleType:
    """A script of the checkout that is not in a package, loaded from its file."""
    name = "_fleetobs_" + Path(relative).stem
    spec = importlib.util.spec_from_file_location(name, root / relative)
    if spec is None or spec.loader is None:  # pragma: no cover - checkout() found the file
        raise UsageError(f"{relative}: cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _metrics_doc(_root: Path) -> dict[str, str]:
    from instrumentation.catalog.render import metrics_markdown

    return {"docs/metrics.md": metrics_markdown()}


def _log_fields_doc(root: Path) -> dict[str, str]:
    from instrumentation.logging import assets

    path = "docs/logging.md"
    table = assets.fields_table()
    return {path: _section(root, path, "<!-- fields:start -->\n", "<!-- fields:end -->", table)}


def _series_estimate_doc(root: Path) -> dict[str, str]:
    estimate = _repository_module(root, "tests.deploy.series_estimate")
    path = "docs/scaling.md"
    return {path: estimate.replace_section(_read(root, path), estimate.render())}


def _performance_doc(root: Path) -> dict[str, str]:
    report = _repository_module(root, "benchmarks.report")
    results = json.loads(_read(root, "benchmarks/results/latest.json"))
    return {"docs/performance.md": report.render(results)}


def _compose_dashboards(_root: Path) -> dict[str, str]:
    from dashboards import generate, provisioning

    files = {
        f"compose/grafana/dashboards/{name}": generate.render(data)
        for name, data in generate.dashboards().items()
    }
    for relative, text in provisioning.files().items():
        files[f"compose/grafana/provisioning/{relative}"] = text
    return files


def _compose_alerts(root: Path) -> dict[str, str]:
    from alerting import api
    from alerting.cli import read_spec
    from alerting.render import dump

    spec = read_spec(root / "compose/prometheus/slo.yaml")
    files = {
        f"compose/prometheus/rules/{name}": dump({"groups": [group.to_dict() for group in groups]})
        for name, groups in api.rule_files(api.build_context(spec)).items()
    }
    files["compose/alertmanager/alertmanager.yml"] = api.alertmanager_yaml(spec)
    return files


def _kubernetes(root: Path) -> dict[str, str]:
    sync = _script(root, "deploy/kubernetes/sync_generated.py")
    return {path.relative_to(sync.ROOT).as_posix(): text for path, text in sync.expected_files().items()}


def _promtool_cases(root: Path) -> dict[str, str]:
    cases = _repository_module(root, "tests.alerting.promtool_cases")
    return {f"tests/alerting/promtool/{name}": text for name, text in cases.render_all().items()}


GENERATORS = (
    Generator("docs/metrics.md from the catalogue", "fleetobs docs generate", _metrics_doc),
    Generator("docs/logging.md field table", EVERYTHING, _log_fields_doc),
    Generator(
        "docs/scaling.md series estimate",
        "python -m tests.deploy.series_estimate --write docs/scaling.md",
        _series_estimate_doc,
    ),
    Generator("docs/performance.md from benchmarks/results/latest.json", EVERYTHING, _performance_doc),
    Generator(
        "compose dashboards and Grafana provisioning",
        "fleetobs dashboards generate --out compose/grafana/dashboards "
        "--provisioning compose/grafana/provisioning",
        _compose_dashboards,
        owns=("compose/grafana/dashboards/*.json",),
    ),
    Generator(
        "compose rules and Alertmanager config",
        "fleetobs alerts generate --out compose --layout compose --slo compose/prometheus/slo.yaml",
        _compose_alerts,
        owns=("compose/prometheus/rules/*.yml",),
    ),
    Generator(
        "Kubernetes copies of dashboards, rules and datasources",
        "python deploy/kubernetes/sync_generated.py",
        _kubernetes,
        owns=("deploy/kubernetes/base/dashboards/*.json",),
    ),
    Generator(
        "promtool unit tests",
        "python -m tests.alerting.promtool_cases",
        _promtool_cases,
        owns=("tests/alerting/promtool/*.yml",),
    ),
)
