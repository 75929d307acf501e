"""The private prometheus_client API the multiprocess merge relies on, pinned.

instrumentation/metrics/multiprocess.py folds dead workers' files and sums totals exactly with
three functions prometheus_client does not promise to keep: ``MultiProcessCollector._read_metrics``,
``MultiProcessCollector._accumulate_metrics`` and ``MmapedDict.read_all_values_from_file``. So
pyproject.toml bounds prometheus-client from above. When a release changes any of them, these
tests fail with what changed: port multiprocess.py first, then lift the bound.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

ROOT = Path(__file__).resolve().parents[2]
CHANGED = (
    "prometheus_client {version} changed {what}, which instrumentation/metrics/multiprocess.py calls; "
    "port the merge before lifting the prometheus-client upper bound in pyproject.toml"
)


def _installed() -> Version:
    from importlib.metadata import version

    return Version(version("prometheus-client"))


def _requirement() -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (line,) = [d for d in project["dependencies"] if re.match(r"prometheus[-_]client\b", d)]
    return Requirement(line)


def test_the_dependency_has_an_upper_bound_and_the_installed_release_is_within_it() -> None:
    requirement = _requirement()
    assert any(spec.operator in {"<", "<="} for spec in requirement.specifier), (
        "prometheus-client needs an upper bound: multiprocess.py uses its private API"
    )
    assert requirement.specifier.contains(_installed()), (
        f"prometheus_client {_installed()} is outside {requirement.specifier}: "
        "these tests say whether the private API still holds"
    )


@pytest.mark.parametrize(
    ("owner", "name", "parameters"),
    [
        (MultiProcessCollector, "_read_metrics", ["files"]),
        (MultiProcessCollector, "_accumulate_metrics", ["metrics", "accumulate"]),
        (MmapedDict, "read_all_values_from_file", ["filename"]),
    ],
)
def test_the_private_functions_exist_with_the_signatures_called(
    owner: type, name: str, parameters: list[str]
) -> None:
    what = f"{owner.__name__}.{name}"
    attribute = inspect.getattr_static(owner, name, None)
    assert isinstance(attribute, staticmethod), CHANGED.format(
        version=_installed(), what=f"{what} (no longer a staticmethod)"
    )
    got = list(inspect.signature(getattr(owner, name)).parameters)
    assert got == parameters, CHANGED.format(version=_installed(), what=f"{what}{tuple(got)}")


def _write(path: Path, samples: dict[tuple[str, str, tuple[str, ...]], float]) -> None:
    values = MmapedDict(str(path))
    try:
        for (metric, sample, labels), value in samples.items():
            names = ["route", "le"][: len(labels)]
            values.write_value(mmap_key(metric, sample, names, list(labels), "help"), value, 0.0)
    finally:
        values.close()


def test_files_are_read_and_accumulated_as_the_merge_expects(tmp_path: Path) -> None:
    for pid, (count, fast, slow) in {"11": (2.0, 1.0, 1.0), "12": (3.0, 3.0, 0.0)}.items():
        _write(tmp_path / f"counter_{pid}.db", {("requests", "requests_total", ("a",)): count})
        _write(
            tmp_path / f"histogram_{pid}.db",
            {
                ("latency", "latency_bucket", ("a", "0.1")): fast,
                ("latency", "latency_bucket", ("a", "+Inf")): slow,
                ("latency", "latency_sum", ("a",)): 0.5,
            },
        )
    files = sorted(str(p) for p in tmp_path.glob("*.db"))

    rows = list(MmapedDict.read_all_values_from_file(files[0]))
    assert all(len(row) == 4 for row in rows), CHANGED.format(
        version=_installed(), what="the rows of read_all_values_from_file (key, value, timestamp, position)"
    )
    key, value, _timestamp, _position = rows[0]
    assert isinstance(key, str)
    assert isinstance(value, float)

    metrics = MultiProcessCollector._read_metrics(files)
    assert isinstance(metrics, dict), CHANGED.format(version=_installed(), what="_read_metrics' result")
    assert {family.type for family in metrics.values()} == {"counter", "histogram"}
    merged = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in MultiProcessCollector._accumulate_metrics(metrics, True)
        for sample in family.samples
    }
    assert merged[("requests_total", (("route", "a"),))] == 5.0
    # accumulate=True turns per-bucket counts into cumulative ones and adds _count.
    assert merged[("latency_bucket", (("le", "0.1"), ("route", "a")))] == 4.0
    assert merged[("latency_bucket", (("le", "+Inf"), ("route", "a")))] == 5.0
    assert merged[("latency_count", (("route", "a"),))] == 5.0
