"""Fixtures for the deployment checks: the compose file as data, and Kustomize's rendered output.

Nothing here starts a container: Docker does not run where this suite runs. Instead every file the
stack mounts and every config it loads is checked with the real tool where one exists (promtool,
amtool, shellcheck, kustomize, the Compose Specification and Kubernetes schemas) and by reading
it where none does.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.procs import in_ci

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
KUBERNETES_DIR = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("base", "overlays/production")


def missing_tool(message: str) -> None:
    """Skip, or fail under CI=true: CI must never pass by skipping."""
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def kustomize_command() -> list[str]:
    """``kustomize build`` if installed, else ``kubectl kustomize`` (the same engine, built in)."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    missing_tool(
        "neither kustomize nor kubectl is installed (https://kubectl.docs.kubernetes.io/installation/)"
    )
    raise AssertionError("unreachable")


def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    """Render ``directory`` with Kustomize and return the documents."""
    result = subprocess.run(
        [*kustomize_command(), str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"kustomize build {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    with COMPOSE_FILE.open(encoding="utf-8") as f:
        document = yaml.safe_load(f)
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="session")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="session", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """The documents ``kustomize build`` renders for the base and each overlay."""
    return kustomize_build(KUBERNETES_DIR / request.param)
