"""The shop image: its Dockerfile copies what exists, the package builds from exactly that, and
every command the compose stack and the Kubernetes manifests run inside it exists.

Docker is not available here, so the build is checked in parts: the COPY sources against the
repository and the ``Dockerfile.dockerignore`` filter, a wheel built by pip from a copy of the
filtered build context (what ``pip install .`` in the image starts from), and the entry points
(gunicorn config, WSGI module, Celery app, management commands, locustfile) against the code.
"""

from __future__ import annotations

import fnmatch
import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import COMPOSE_DIR, ROOT

DOCKERFILE = COMPOSE_DIR / "Dockerfile"
DOCKERIGNORE = COMPOSE_DIR / "Dockerfile.dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def copy_sources() -> list[str]:
    sources = []
    for instruction, arguments in instructions():
        if instruction == "COPY":
            *parts, _destination = arguments.split()
            sources += [p for p in parts if not p.startswith("--")]
    return sources


def included(path: str) -> bool:
    """Whether the .dockerignore patterns (last match wins, ``!`` re-includes) keep ``path``."""
    keep = True
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        pattern = pattern.removeprefix("**/")
        parts = Path(path).parts
        if any(fnmatch.fnmatch("/".join(parts[: i + 1]), pattern) for i in range(len(parts))) or any(
            fnmatch.fnmatch(part, pattern) for part in parts
        ):
            keep = negate
    return keep


def test_base_image_is_pinned() -> None:
    (base,) = [args for instruction, args in instructions() if instruction == "FROM"]
    name, tag = base.split()[0].split(":")
    assert name == "python", base
    assert re.match(r"^\d+\.\d+\.\d+-", tag), f"pin the exact Python release: {base}"


def test_copy_sources_exist_and_survive_the_dockerignore() -> None:
    sources = copy_sources()
    assert {"pyproject.toml", "README.md", "fleetobs.py", "instrumentation", "sample_app"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert included(source), f"COPY {source}: excluded by {DOCKERIGNORE.name}"
    for private in (".venv", ".git", "tests"):
        assert not included(private), f"the build context must not ship {private}"


def test_every_package_the_project_ships_is_copied() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    includes = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in includes}
    assert packages <= set(copy_sources()), (
        f"pyproject ships {packages}; the Dockerfile copies {copy_sources()}"
    )
    extras = next(
        args for instruction, args in instructions() if instruction == "RUN" and "pip install" in args
    )
    for extra in ("sample", "elasticsearch", "celery"):
        assert extra in extras, extra
        assert extra in project["project"]["optional-dependencies"], extra


@pytest.mark.slow
def test_the_package_builds_from_the_filtered_build_context(tmp_path: Path) -> None:
    context = tmp_path / "context"
    for source in copy_sources():
        origin = ROOT / source
        if origin.is_dir():
            shutil.copytree(origin, context / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            (context / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, context / source)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "fleetobs.py",
        "sample_app/gunicorn.conf.py",
        "sample_app/locustfile.py",
        "instrumentation/gunicorn.py",
        "sample_app/shop/management/commands/seed.py",
    ):
        assert required in names, f"{required} is missing from the wheel the image installs"


def test_the_commands_the_containers_run_exist(services: dict[str, dict[str, Any]]) -> None:
    # gunicorn -c sample_app/gunicorn.conf.py, from WORKDIR /app (the repository layout).
    (workdir,) = [args for instruction, args in instructions() if instruction == "WORKDIR"]
    assert workdir == "/app"
    for name in ("shop-1", "shop-2"):
        config = services[name]["command"][1].split("=", 1)[1]
        assert (ROOT / config).is_file(), f"{name}: {config} missing"
    gunicorn_conf: dict[str, Any] = {}
    exec(
        compile(
            (ROOT / "sample_app/gunicorn.conf.py").read_text(encoding="utf-8"), "gunicorn.conf.py", "exec"
        ),
        gunicorn_conf,
    )
    module, _, _attribute = gunicorn_conf["wsgi_app"].partition(":")
    assert importlib.util.find_spec(module) is not None, gunicorn_conf["wsgi_app"]
    for hook in ("post_fork", "child_exit", "worker_exit"):
        assert callable(gunicorn_conf[hook]), f"gunicorn config lacks the {hook} hook"

    # celery --app=sample_app.celery
    app_flag = next(a for a in services["worker"]["command"] if a.startswith("--app="))
    celery_module = importlib.import_module(app_flag.split("=", 1)[1])
    assert celery_module.app.main == "sample_app"

    # python -m sample_app migrate && python -m sample_app seed
    script = services["migrate"]["command"][-1]
    assert "python -m sample_app migrate --noinput" in script
    assert "python -m sample_app seed" in script
    assert (ROOT / "sample_app/shop/management/commands/seed.py").is_file()

    # locust --locustfile=sample_app/locustfile.py
    locustfile = next(a for a in services["loadgen"]["command"] if a.startswith("--locustfile="))
    assert (ROOT / locustfile.split("=", 1)[1]).is_file()
