"""What the package claims to support is what the test matrix runs.

constraints/matrix.toml is the one statement of support: its cells are what ``make test`` runs.
The package's classifiers and ``requires-python``, the Django requirement, the README's
"Supported versions", docs/compatibility.md and the GitHub workflows are checked against it, so
a claim without a cell behind it (or a cell without a claim) fails here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@pytest.fixture(scope="module")
def matrix() -> dict[str, Any]:
    return tomllib.loads((ROOT / "constraints" / "matrix.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@pytest.fixture(scope="module")
def support_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Supported versions\n(.*?)(?=^## )", readme, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no '## Supported versions' section"
    return match.group(1)


def cell_pairs(matrix: dict[str, Any]) -> set[tuple[str, str]]:
    return {(cell["django"], cell["python"]) for cell in matrix["cell"]}


def djangos(matrix: dict[str, Any]) -> list[str]:
    return sorted({cell["django"] for cell in matrix["cell"]}, key=version_key)


def pythons(matrix: dict[str, Any]) -> list[str]:
    return sorted({cell["python"] for cell in matrix["cell"]}, key=version_key)


def test_every_cell_is_well_formed(matrix: dict[str, Any]) -> None:
    names = [cell["name"] for cell in matrix["cell"]]
    assert len(names) == len(set(names))
    assert len(cell_pairs(matrix)) == len(names), "two cells test the same Django and Python"
    for cell in matrix["cell"]:
        major, minor = cell["django"].split(".")
        assert cell["name"] == f"django{major}{minor}-py{cell['python'].replace('.', '')}"
        assert cell["django"] in matrix["django"], f"{cell['name']}: Django {cell['django']} has no release"
        assert cell["suites"], cell["name"]
        for suite in cell["suites"]:
            assert suite in matrix["suite"], f"{cell['name']}: unknown suite {suite}"
    main = [cell for cell in matrix["cell"] if cell.get("venv") == ".venv"]
    assert len(main) == 1, "one cell runs in the main virtualenv"


@pytest.mark.parametrize("series", ["5.2", "6.0", "6.1"])
def test_each_release_is_a_patch_of_its_series(matrix: dict[str, Any], series: str) -> None:
    latest = matrix["django"][series]["latest"]
    assert re.fullmatch(rf"{re.escape(series)}(\.\d+)?", latest)


def test_every_supported_django_has_a_cell(matrix: dict[str, Any]) -> None:
    assert set(matrix["django"]) == set(djangos(matrix))
    assert not set(matrix["dropped"]) & set(matrix["django"])


def test_the_newest_pair_and_the_lts_run_the_integration_suites(matrix: dict[str, Any]) -> None:
    integration = {"gunicorn", "celery", "prometheus"}
    newest = max(matrix["cell"], key=lambda c: (version_key(c["django"]), version_key(c["python"])))
    assert integration | {"in-process", "wheel"} <= set(newest["suites"])
    lts = [s for s, release in matrix["django"].items() if release["lts"]]
    for series in lts:
        suites = {s for cell in matrix["cell"] if cell["django"] == series for s in cell["suites"]}
        assert "all" in suites or integration <= suites, f"Django {series} LTS runs no integration suite"
    for cell in matrix["cell"]:
        assert "all" in cell["suites"] or "in-process" in cell["suites"], cell["name"]


def test_classifiers_match_the_matrix(matrix: dict[str, Any], project: dict[str, Any]) -> None:
    classifiers = project["classifiers"]
    django = r"Framework :: Django :: \d+\.\d+"
    python = r"Programming Language :: Python :: 3\.\d+"
    claimed_django = sorted(
        (c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(django, c)), key=version_key
    )
    claimed_python = sorted(
        (c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(python, c)), key=version_key
    )
    assert claimed_django == djangos(matrix)
    assert claimed_python == pythons(matrix)


def test_requirements_match_the_matrix(matrix: dict[str, Any], project: dict[str, Any]) -> None:
    assert project["requires-python"] == f">={pythons(matrix)[0]}"
    (django,) = [dep for dep in project["dependencies"] if re.match(r"Django\b", dep, re.IGNORECASE)]
    assert django == f"Django>={djangos(matrix)[0]}"


def test_the_readme_states_the_matrix(matrix: dict[str, Any], support_section: str) -> None:
    rows = {}
    for line in support_section.splitlines():
        cells = [part.strip() for part in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.match(r"\d+\.\d+", cells[0]):
            rows[cells[0].split()[0]] = {v.strip() for v in cells[1].split(",")}
    stated = {(django, python) for django, versions in rows.items() for python in versions}
    assert stated == cell_pairs(matrix)
    for series, release in matrix["django"].items():
        row = next(line for line in support_section.splitlines() if line.startswith(f"| {series}"))
        assert ("LTS" in row) == release["lts"], row
    for series in matrix["dropped"]:
        assert re.search(rf"Django {re.escape(series)}\b.*end of life", support_section), series


def test_the_compatibility_doc_names_every_cell(matrix: dict[str, Any]) -> None:
    doc = (ROOT / "docs" / "compatibility.md").read_text(encoding="utf-8")
    for cell in matrix["cell"]:
        assert f"`{cell['name']}`" in doc, cell["name"]
    for release in matrix["django"].values():
        assert release["latest"] in doc, f"docs/compatibility.md does not name Django {release['latest']}"


def test_make_test_runs_the_matrix() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    (test_rule,) = re.findall(r"^test:(.*)$", makefile, re.MULTILINE)
    assert "matrix" in test_rule.split()
    assert "scripts/matrix.py run" in makefile


def test_ci_tests_every_cell(matrix: dict[str, Any]) -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    include = workflow["jobs"]["test"]["strategy"]["matrix"]["include"]
    assert {(entry["django"], entry["python-version"]) for entry in include} == cell_pairs(matrix)


def test_the_upstream_workflow_runs_the_matrix_weekly() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "upstream.yml").read_text(encoding="utf-8"))
    triggers = workflow[True]  # PyYAML reads the `on:` key as True (YAML 1.1)
    assert "schedule" in triggers
    (schedule,) = triggers["schedule"]
    assert re.fullmatch(r"\S+ \S+ \* \* \d", schedule["cron"]), "not weekly"
    commands = "\n".join(step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"])
    assert "scripts/matrix.py run" in commands
    assert "--upstream" in commands
