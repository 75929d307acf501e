"""``reset_all()`` forgets everything: proven on module state, not on a list of resets.

A fresh interpreter imports every module of the package, resets, and takes a snapshot of every
module-level variable that can hold state (containers, context variables, caches, objects put
in place by use). It then drives every signal (sync and async requests with database queries,
the cache, N+1 detection, streamed responses, the log pipeline installed and writing, tracing
with spans recorded, a Celery task run eagerly) and resets again: each variable must be back to
its snapshot. A module whose state is not registered with :mod:`instrumentation.lifecycle`
fails here, with its name and variable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import contextvars, importlib, io, json, os, pkgutil, sys, types, weakref
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
import django
django.setup()
import instrumentation
from instrumentation import lifecycle, testing

MODULES = []
for info in pkgutil.walk_packages(instrumentation.__path__, "instrumentation."):
    if info.name == "instrumentation.gunicorn":  # importing it configures the process for gunicorn
        continue
    try:
        MODULES.append(importlib.import_module(info.name))
    except ImportError:  # an optional dependency (wagtail) absent
        pass

PERSISTENT = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType)
MISSING = object()


def scalar(value):
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return repr(value)
    return type(value).__name__


def fingerprint(value):
    if isinstance(value, contextvars.ContextVar):
        found = value.get(MISSING)
        return "unset" if found is MISSING else fingerprint(found)
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return repr(value)
    if isinstance(value, (tuple, frozenset)):
        return f"object {type(value).__name__} {id(value)}"  # replaced, not changed, when used
    if isinstance(value, dict):
        return "dict" + repr(sorted((repr(key), scalar(item)) for key, item in value.items()))
    if isinstance(value, (list, set, weakref.WeakSet)):
        return f"{type(value).__name__}[{len(value)}]"
    return f"object {type(value).__name__} {id(value)}"


def snapshot():
    state = {}
    for module in MODULES:
        for name, value in vars(module).items():
            if name.startswith("__") or name == "annotations" or isinstance(value, PERSISTENT):
                continue
            if name.lstrip("_").isupper():
                continue  # constants
            state[f"{module.__name__}.{name}"] = fingerprint(value)
    return state


testing.reset_all()
before = snapshot()

from django.test import AsyncClient, Client, override_settings
from asgiref.sync import async_to_sync
from django.core.management import call_command
from instrumentation.tracing.testing import capture_spans
import logging

call_command("migrate", run_syncdb=True, verbosity=0)
stream = io.StringIO()
with override_settings(
    FLEET_OBSERVABILITY={"SERVICE_NAME": "probe", "LOGGING_CONFIGURE": True, "TRACING_ENABLED": True,
                         "N_PLUS_ONE_THRESHOLD": 2},
):
    testing.reset_all()
    from instrumentation import logging as fleet_logging

    fleet_logging.configure()
    with capture_spans():
        client = Client()
        for path in ("/ok/", "/items/7/", "/legacy/abc/", "/boom/", "/missing/", "/books/n-plus-one/",
                     "/cached/", "/responses/stream/", "/invite/s3cr3t-t0ken/", "/metrics"):
            try:
                response = client.get(path)
                b"".join(getattr(response, "streaming_content", [response.content]))
            except Exception:
                pass
        async_to_sync(AsyncClient().get)("/async/ok/")
        logging.getLogger("probe").warning("a line with password=%s", "hunter2")

        from celery import Celery
        from instrumentation import celery as fleet_celery

        app = Celery("probe", broker="memory://", backend="cache+memory://")
        app.conf.task_always_eager = True
        fleet_celery.instrument()

        @app.task(name="probe.add")
        def add(a, b):
            return a + b

        add.delay(1, 2).get()
    testing.reset_all()

testing.reset_all()
import gc
gc.collect()  # weak sets forget what is unreachable only once it is collected
after = snapshot()
changed = {key: [before.get(key), after.get(key)] for key in sorted(set(before) | set(after))
           if before.get(key) != after.get(key)}
print(json.dumps({"changed": changed, "variables": len(before), "resets": lifecycle.registered()}))
"""


def test_reset_all_returns_every_module_variable_to_its_state() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["variables"] > 50
    assert report["changed"] == {}
    # Every stateful module registered its reset in the one place.
    assert len(report["resets"]) >= 20
