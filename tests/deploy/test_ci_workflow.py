"""The GitHub Actions workflow users get when they fork: valid, and running what it promises.

It must parse, validate against the GitHub workflow schema (``check-jsonschema``'s built-in
``vendor.github-workflows``), and keep its jobs: lint (ruff, mypy, shellcheck), the test suite
with PostgreSQL and Redis services under ``CI=true``, the generated artefacts checked with the
promtool and amtool versions the compose stack runs, a dependency audit, and the compose smoke.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    # PyYAML reads the `on:` key as the boolean True (YAML 1.1); the schema check below reads it right.
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def run_steps(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_validates_against_the_github_workflow_schema() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            str(WORKFLOW),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_has_the_expected_jobs(workflow: dict[str, Any]) -> None:
    assert set(workflow["jobs"]) == {"lint", "test", "generated", "audit", "smoke"}
    triggers = workflow[True]
    assert {"push", "pull_request", "workflow_dispatch", "schedule"} <= set(triggers)
    assert workflow["env"]["CI"] == "true", "integration tests must fail, not skip, in CI"
    assert workflow["permissions"] == {"contents": "read"}


def test_lint_runs_ruff_mypy_and_shellcheck(workflow: dict[str, Any]) -> None:
    commands = run_steps(workflow["jobs"]["lint"])
    for command in ("ruff check .", "ruff format --check .", "mypy", "shellcheck compose/smoke.sh"):
        assert command in commands


def test_tests_run_with_postgres_and_redis(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["test"]
    services = job["services"]
    assert services["postgres"]["ports"] == ["5432:5432"]
    assert services["postgres"]["env"]["POSTGRES_DB"] == "test"
    assert services["redis"]["ports"] == ["6379:6379"]
    for service in services.values():
        assert "--health-cmd" in service["options"], "steps must not start before the service is ready"
    commands = run_steps(job)
    assert "system-deps.sh" in commands
    assert re.search(r"^pytest\b", commands, re.MULTILINE)


def test_service_images_match_the_compose_stack(workflow: dict[str, Any], services: dict[str, Any]) -> None:
    ci_services = workflow["jobs"]["test"]["services"]
    assert ci_services["postgres"]["image"] == services["postgres"]["image"]
    assert ci_services["redis"]["image"] == services["redis"]["image"]


def test_generated_artefacts_are_checked_with_the_stack_versions(
    workflow: dict[str, Any], services: dict[str, Any]
) -> None:
    prometheus_tag = services["prometheus"]["image"].split(":v")[1]
    alertmanager_tag = services["alertmanager"]["image"].split(":v")[1]
    assert workflow["env"]["PROMETHEUS_VERSION"] == prometheus_tag
    assert workflow["env"]["ALERTMANAGER_VERSION"] == alertmanager_tag
    commands = run_steps(workflow["jobs"]["generated"])
    for command in (
        "fleetobs generate --check",
        "promtool check config compose/prometheus/prometheus.yml",
        "fleetobs alerts test",
        "tests/dashboards/test_generate.py",
        "tests/deploy",
        "vendor.compose-spec",
        "docker compose -f compose/docker-compose.yml config",
    ):
        assert command in commands


def test_smoke_runs_the_compose_stack_and_always_tears_it_down(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["smoke"]
    commands = run_steps(job)
    assert "compose/smoke.sh --up" in commands
    teardown = job["steps"][-1]
    assert teardown["if"] == "always()"
    assert "down --volumes" in teardown["run"]
