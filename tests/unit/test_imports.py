"""Deferred instrumentation: a library is instrumented when the application imports it, never
imported by us only to be instrumented."""

from __future__ import annotations

import importlib
import importlib.resources
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from instrumentation import _imports, _safety

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def package(tmp_path: Path) -> Iterator[str]:
    """A package on ``sys.path`` that nobody has imported yet: ``lib`` with ``lib.signals``."""
    root = tmp_path / "deferred_lib"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "signals.py").write_text("READY = True\nfrom importlib.resources import files\n")
    (root / "data.txt").write_text("resource")
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    try:
        yield "deferred_lib"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == "deferred_lib" or n.startswith("deferred_lib.")]:
            del sys.modules[name]
        _imports.reset()


def test_an_imported_module_is_handed_over_at_once() -> None:
    seen: list[ModuleType] = []
    _imports.after_import("json", seen.append)
    assert seen == [json]
    assert _imports.pending() == []


def test_the_callback_runs_after_the_applications_own_import(package: str) -> None:
    seen: list[tuple[str, bool]] = []
    _imports.after_import(f"{package}.signals", lambda module: seen.append((module.__name__, module.READY)))
    assert seen == []
    assert f"{package}.signals" not in sys.modules
    module = importlib.import_module(f"{package}.signals")
    assert seen == [(f"{package}.signals", True)]
    # The module keeps its own loader (inspect, importlib.resources and pickling read it) and the
    # finder leaves sys.meta_path once nothing waits.
    assert type(module.__loader__).__name__ == "SourceFileLoader"
    assert module.__spec__ is not None
    assert module.__spec__.loader is module.__loader__
    assert (importlib.resources.files(package) / "data.txt").read_text() == "resource"
    assert not any(type(finder).__name__ == "_Finder" for finder in sys.meta_path)
    importlib.reload(module)
    assert len(seen) == 1


def test_a_failing_callback_never_fails_the_import(package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_safety, "RAISE_INTERNAL_ERRORS", False)
    after: list[str] = []
    _imports.after_import(f"{package}.signals", lambda module: 1 / 0)  # type: ignore[func-returns-value]
    _imports.after_import(f"{package}.signals", lambda module: after.append(module.__name__))
    module = importlib.import_module(f"{package}.signals")
    assert module.READY is True
    assert after == [f"{package}.signals"]


def test_reset_forgets_what_waits(package: str) -> None:
    seen: list[ModuleType] = []
    _imports.after_import(f"{package}.signals", seen.append)
    assert _imports.pending() == [f"{package}.signals"]
    _imports.reset()
    importlib.import_module(f"{package}.signals")
    assert seen == []
    assert not any(type(finder).__name__ == "_Finder" for finder in sys.meta_path)


_CELERY_PROBE = textwrap.dedent(
    """
    import json, os, sys
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    if sys.argv[1] == "before":
        import celery  # the project package imports its Celery app before Django starts
        celery.Celery("proj")
    import django
    django.setup()
    from instrumentation import celery as fleet_celery
    state = {"imported_at_setup": "celery.signals" in sys.modules,
             "instrumented_at_setup": fleet_celery.instrumented()}
    if sys.argv[1] == "after":
        from celery import Celery  # a tasks module imported by a view, after start-up
        Celery("proj")
    state["instrumented"] = fleet_celery.instrumented()
    print(json.dumps(state))
    """
)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("never", {"imported_at_setup": False, "instrumented_at_setup": False, "instrumented": False}),
        ("before", {"imported_at_setup": True, "instrumented_at_setup": True, "instrumented": True}),
        ("after", {"imported_at_setup": False, "instrumented_at_setup": False, "instrumented": True}),
    ],
)
def test_celery_is_instrumented_whenever_the_app_imports_it(when: str, expected: dict[str, bool]) -> None:
    pytest.importorskip("celery")
    completed = subprocess.run(
        [sys.executable, "-c", _CELERY_PROBE, when],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == expected


_STRUCTLOG_PROBE = textwrap.dedent(
    """
    import json, sys
    from django.conf import settings
    settings.configure(INSTALLED_APPS=["instrumentation"], FLEET_OBSERVABILITY={"SERVICE_NAME": "probe"})
    import django
    django.setup()
    loaded_at_setup = [name for name in ("structlog", "rich", "celery") if name in sys.modules]
    import structlog  # the application's first use, after start-up
    structlog.get_logger("shop.orders").info("order placed", order_id=7)
    from instrumentation.logging.output import flush_all
    sys.stdout.flush()
    flush_all()
    print(json.dumps({"loaded_at_setup": loaded_at_setup}))
    """
)


def test_structlog_is_configured_when_the_application_first_imports_it() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _STRUCTLOG_PROBE],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "FLEETOBS_LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    assert lines[-1] == {"loaded_at_setup": []}
    event = next(line for line in lines if line.get("message") == "order placed")
    assert event["log"]["logger"] == "shop.orders"
    assert event["labels"] == {"order_id": 7}
    assert event["service"]["name"] == "probe"
