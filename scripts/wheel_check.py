#!/usr/bin/env python3
"""The built wheel, installed alone into a fresh virtualenv, serves a Django project under gunicorn.

    python3 scripts/wheel_check.py --python /path/to/python3.13 --django Django==6.1.3

What a user does, step by step: build the wheel from this checkout, make a virtualenv with the
given interpreter, ``pip install`` the wheel, the given Django and gunicorn (pinned by
constraints/test.txt), write a small project in a temporary directory outside the checkout (so
nothing is imported from the source tree), run it under gunicorn with the package's hooks and
three workers, send a known number of requests to each route over separate connections (so they
spread over the workers), and read ``/metrics``: every route's request count must be exact, and
``fleetobs_build_info`` must name the Django and Python that served them.

Standard library only; the matrix runs it on its newest cell (constraints/matrix.toml). That is
why it keeps its own few lines for a free port and for waiting until gunicorn serves instead of
importing ``sample_app.processes`` (the launcher the demo, the tests and the benchmarks share): it
runs on a bare ``python3`` with nothing of this project installed. tests/packaging reuses them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints" / "test.txt"
WORKERS = 3
#: (method, path, the http_route it is counted under, status, how many requests)
TRAFFIC = [
    ("GET", "/hello/{i}/", "hello/<int:n>/", "200", 7),
    ("POST", "/items/", "items/", "201", 4),
    ("GET", "/items/", "items/", "200", 5),
    ("GET", "/fails/", "fails/", "500", 2),
    ("GET", "/no/such/page/{i}", "<unmatched>", "404", 3),
]

SETTINGS = """
from pathlib import Path

SECRET_KEY = "wheel-check-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "wheelsite.urls"
WSGI_APPLICATION = "wheelsite.wsgi.application"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "instrumentation"]
MIDDLEWARE = [
    "instrumentation.middleware.ObservabilityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(Path(__file__).parent / "db.sqlite3")}
}
USE_TZ = True
FLEET_OBSERVABILITY = {"SERVICE_NAME": "wheelsite", "TRACING_ENABLED": False}
"""
URLS = """
import os

from django.http import HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


def hello(request, n):
    return HttpResponse(f"hello {n} from {os.getpid()}")


@csrf_exempt
def items(request):
    if request.method == "POST":
        return JsonResponse({"created": True}, status=201)
    return JsonResponse({"items": [1, 2, 3]})


def fails(request):
    raise RuntimeError("this view fails on purpose")


urlpatterns = [
    path("hello/<int:n>/", hello),
    path("items/", items),
    path("fails/", fails),
    path("", include("instrumentation.urls")),
]
"""
WSGI = """
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wheelsite.settings")
application = get_wsgi_application()
"""


def step(message: str) -> None:
    print(f"wheel check: {message}", flush=True)


def sh(*cmd: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(url: str, method: str = "GET") -> tuple[int, str]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def wait_until_serving(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if request(f"{base}/healthz")[0] == 200:
                return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"gunicorn did not start serving:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)  # polling interval while waiting for a deadline, not a timing assumption


def counts(metrics: str) -> dict[tuple[str, str, str], float]:
    """Request counts by (method, route, status) from the exposition text."""
    found: dict[tuple[str, str, str], float] = {}
    pattern = re.compile(r"^http_server_request_duration_seconds_count\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
    for line in metrics.splitlines():
        match = pattern.match(line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match["labels"]))
        key = (labels["http_request_method"], labels["http_route"], labels["http_response_status_code"])
        found[key] = found.get(key, 0.0) + float(match["value"])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter for the new virtualenv")
    parser.add_argument("--django", default="Django", help="the Django requirement to install")
    parser.add_argument("--constraints", default=str(CONSTRAINTS), help="pip constraints for the install")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="fleetobs-wheel-"))
    try:
        step(f"building the wheel from {ROOT}")
        dist = work / "dist"
        sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT))
        (wheel,) = dist.glob("django_fleet_observability-*.whl")

        venv = work / "venv"
        step(f"installing {wheel.name}, {args.django} and gunicorn into a new virtualenv ({args.python})")
        sh(args.python, "-m", "venv", str(venv))
        python = str(venv / "bin" / "python")
        sh(python, "-m", "pip", "install", "-q", "-c", args.constraints, str(wheel), args.django, "gunicorn")

        project = work / "project"
        (project / "wheelsite").mkdir(parents=True)
        for name, text in {
            "__init__.py": "",
            "settings.py": SETTINGS,
            "urls.py": URLS,
            "wsgi.py": WSGI,
        }.items():
            (project / "wheelsite" / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
        env |= {"DJANGO_SETTINGS_MODULE": "wheelsite.settings", "PYTHONPATH": str(project)}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        probe = subprocess.run(
            [
                python,
                "-c",
                "import instrumentation, django, sys; print(instrumentation.__file__);"
                "print(django.get_version(), '%d.%d.%d' % sys.version_info[:3])",
            ],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        module, django_version, python_version = probe
        if not module.startswith(str(venv)):
            raise SystemExit(f"instrumentation was imported from {module}, not from the installed wheel")
        step(f"installed: Django {django_version}, Python {python_version}, {module}")
        sh(python, "-m", "django", "check", "--fail-level", "WARNING", cwd=project, env=env)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = work / "gunicorn.log"
        step(f"gunicorn with {WORKERS} workers on {base}")
        with log.open("wb") as output:
            server = subprocess.Popen(
                [
                    str(venv / "bin" / "gunicorn"),
                    "-c",
                    "python:instrumentation.gunicorn",
                    "--workers",
                    str(WORKERS),
                    "--bind",
                    f"127.0.0.1:{port}",
                    "wheelsite.wsgi",
                ],
                cwd=project,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until_serving(base, server, log)
            served_by = set()
            for method, path, _, status, times in TRAFFIC:
                for i in range(times):
                    got, body = request(base + path.format(i=i), method)
                    if body.startswith("hello "):
                        served_by.add(body.rsplit(" ", 1)[1])
                    if str(got) != status:
                        raise SystemExit(f"{method} {path.format(i=i)} answered {got}, expected {status}")
            scrape_status, metrics = request(f"{base}/metrics")
            if scrape_status != 200:
                raise SystemExit(f"/metrics answered {scrape_status}: {metrics[:500]}")
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

        found = counts(metrics)
        step(f"the hello requests were served by {len(served_by)} of the {WORKERS} workers")
        problems = []
        for method, _, route, status, _times in TRAFFIC:
            expected = sum(t for m, _, r, s, t in TRAFFIC if (m, r, s) == (method, route, status))
            got = found.get((method, route, status), 0.0)
            print(f"  {method:<5} {route:<16} {status}  {got:g} (expected {expected})")
            if got != expected:
                problems.append(f"{method} {route} {status}: {got:g} requests counted, {expected} sent")
        build = [line for line in metrics.splitlines() if line.startswith("fleetobs_build_info{")]
        print(f"  {build[0] if build else 'fleetobs_build_info missing'}")
        if not build or f'django_version="{django_version}"' not in build[0]:
            problems.append(f"fleetobs_build_info does not name Django {django_version}: {build}")
        pids = set(re.findall(r"Booting worker with pid: (\d+)", log.read_text(errors="replace")))
        if len(pids) < WORKERS:
            problems.append(f"{len(pids)} gunicorn workers booted, expected {WORKERS}")
        if problems:
            print(log.read_text(errors="replace")[-4000:])
            raise SystemExit("wheel check failed:\n  " + "\n  ".join(problems))
        step(f"ok: exact per-route counts, Django {django_version}, Python {python_version}")
        return 0
    finally:
        if args.keep:
            step(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
