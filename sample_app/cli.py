"""``fleetobs demo``: the sample fleet under load, watched by Prometheus and Alertmanager.

Runs until Ctrl-C (or SIGTERM, or ``--duration`` seconds), then stops every process it started.
State (database, configs, logs, TSDB) lives in ``--state-dir`` (default ``.demo/``), so running it
again is quick and keeps Prometheus' history. Missing Prometheus/Alertmanager packages are
installed with apt-get only when asked (``--install``, as root); otherwise the exact command is
printed and the demo exits 1. A bad argument is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from fleetobs_cli import example, integer, number, output_dir, readable_file

REQUIRED_BINARIES = ("prometheus", "prometheus-alertmanager")


class _Stop(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised in the main thread by the SIGTERM handler."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the sample fleet with Prometheus, Alertmanager and load",
        description=(
            "Start the sample shop as a small fleet under gunicorn, scraped by a real Prometheus and "
            "watched by a real Alertmanager whose webhook receiver prints the alerts, with load. "
            "Runs until Ctrl-C (or SIGTERM, or --duration), then stops every process it started. "
            "State, configs and logs live in --state-dir, so a second run is quick."
        ),
        epilog=example("fleetobs demo --instances 2 --duration 600", "sudo fleetobs demo --install"),
    )
    parser.add_argument(
        "--instances", type=integer(minimum=1), metavar="N", default=2, help="app instances (default 2)"
    )
    parser.add_argument(
        "--workers",
        type=integer(minimum=1),
        metavar="N",
        default=2,
        help="gunicorn workers per instance (default 2)",
    )
    parser.add_argument(
        "--duration",
        type=number(minimum=0),
        metavar="SECONDS",
        default=0,
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--state-dir",
        type=output_dir,
        metavar="DIR",
        default=Path(".demo"),
        help="where state and logs live (default .demo)",
    )
    parser.add_argument(
        "--service", metavar="NAME", default="shop", help="service name, the Prometheus job (default shop)"
    )
    parser.add_argument(
        "--load",
        choices=("builtin", "locust", "none"),
        default="builtin",
        help="load generator (default: the built-in one)",
    )
    parser.add_argument(
        "--no-load", dest="load", action="store_const", const="none", help="same as --load none"
    )
    parser.add_argument(
        "--rate",
        type=number(minimum=0, exclusive_minimum=True),
        metavar="RPS",
        default=8.0,
        help="requests per second of the built-in load (default 8)",
    )
    parser.add_argument(
        "--slo", type=readable_file, metavar="FILE", help="SLO spec file handed to the alerting package"
    )
    parser.add_argument(
        "--scrape-interval",
        type=_interval,
        metavar="DURATION",
        default="5s",
        help="Prometheus scrape and rule interval (default 5s)",
    )
    parser.add_argument(
        "--database-url", metavar="URL", help="use this database instead of the SQLite file in the state dir"
    )
    parser.add_argument(
        "--redis-url",
        metavar="URL",
        help="Redis for the cache and the Celery broker (starts a Celery worker)",
    )
    install = parser.add_mutually_exclusive_group()
    install.add_argument(
        "--install",
        action="store_true",
        help="install missing Prometheus/Alertmanager packages with apt-get (as root); "
        "default: print the command",
    )
    install.add_argument(
        "--no-install",
        action="store_true",
        help="never install missing packages; print the command (the default)",
    )
    parser.add_argument(
        "--snapshot-after",
        type=number(minimum=0),
        metavar="SECONDS",
        default=180.0,
        help="snapshot every dashboard after this long and serve it on a local port (0: never)",
    )
    parser.set_defaults(func=run)


def _interval(text: str) -> str:
    """A Prometheus duration such as 5s or 1m (what the generated prometheus.yml will say)."""
    if not re.fullmatch(r"[1-9][0-9]*(ms|s|m|h)", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 5s, 15s or 1m")
    return text


def ensure_binaries(*, allow_install: bool) -> int:
    """0 when Prometheus and Alertmanager are on PATH (installing them as root if needed)."""
    missing = [name for name in REQUIRED_BINARIES if shutil.which(name) is None]
    if not missing:
        return 0
    from sample_app.processes import DEBIAN_PACKAGES

    packages = sorted({DEBIAN_PACKAGES[name] for name in missing})
    command = ["apt-get", "install", "-y", *packages]
    can_install = allow_install and os.geteuid() == 0 and shutil.which("apt-get") is not None
    if not can_install:
        print(
            f"fleetobs demo: missing {', '.join(missing)}; install with "
            f"`sudo apt-get update && sudo {' '.join(command)}`"
            + ("" if allow_install else " or run `sudo fleetobs demo --install`"),
            file=sys.stderr,
        )
        return 1
    print(f"installing {' '.join(packages)} with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-q"], [*command[:2], "-q", *command[2:]]):
        if subprocess.run(step, env=env, check=False).returncode != 0:  # noqa: S603 - fixed commands
            print(f"fleetobs demo: `{' '.join(step)}` failed", file=sys.stderr)
            return 1
    still = [name for name in REQUIRED_BINARIES if shutil.which(name) is None]
    if still:
        print(f"fleetobs demo: {', '.join(still)} still missing after install", file=sys.stderr)
        return 1
    return 0


def _print_alert(payload: dict[str, Any]) -> None:
    for alert in payload.get("alerts", []):
        labels = alert.get("labels", {})
        name = labels.pop("alertname", "?")
        status = str(alert.get("status", "?")).upper()
        summary = alert.get("annotations", {}).get("summary", "")
        label_text = ",".join(f"{k}={v!r}" for k, v in sorted(labels.items()))
        print(f"[alert] {status:8} {name}{{{label_text}}} {summary}", flush=True)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def run(args: argparse.Namespace) -> int:
    status = ensure_binaries(allow_install=args.install)
    if status:
        return status

    from sample_app.fleet import Fleet, FleetConfig
    from sample_app.processes import MissingBinaryError, ServerFailedError

    config = FleetConfig(
        state_dir=args.state_dir,
        instances=args.instances,
        workers=args.workers,
        service=args.service,
        environment="demo",
        database_url=args.database_url,
        redis_url=args.redis_url,
        scrape_interval=args.scrape_interval,
        evaluation_interval=args.scrape_interval,
        slo_file=args.slo,
        preferred_ports=True,
        on_alert=_print_alert,
        celery_worker=bool(args.redis_url),
    )
    fleet = Fleet(config, log=lambda message: print(message, flush=True))
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    extras: list[Any] = []
    try:
        fleet.start()
        load = _start_load(args, fleet)
        if load is not None:
            extras.append(load)
        _print_banner(fleet, args)
        from sample_app.reports import DemoReports

        extras.append(
            DemoReports(
                fleet, snapshot_after=args.snapshot_after, print_line=lambda line: print(line, flush=True)
            ).start()
        )
        _wait(args.duration, getattr(load, "summary", None))
    except (KeyboardInterrupt, _Stop):
        print("\nstopping ...", flush=True)
    except (ServerFailedError, MissingBinaryError) as exc:
        print(f"fleetobs demo: {exc}", file=sys.stderr)
        status = 1
    finally:
        # A second Ctrl-C must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for extra in reversed(extras):
            extra.stop()
        fleet.stop()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    print("demo stopped; every process it started has exited.", flush=True)
    return status


def _start_load(args: argparse.Namespace, fleet: Any) -> Any:
    targets = [app.url for app in fleet.instances]
    if args.load == "none":
        return None
    if args.load == "locust":
        return _LocustProcess(targets, fleet).start()
    from sample_app.shop.demo_user import demo_password
    from sample_app.traffic import LoadGenerator

    return LoadGenerator(
        targets, rate=args.rate, users=max(4, 2 * len(targets)), password=demo_password()
    ).start()


class _LocustProcess:
    """Locust, headless, spreading its users over every instance (see locustfile.py)."""

    def __init__(self, targets: list[str], fleet: Any) -> None:
        from sample_app.processes import ManagedProcess

        locustfile = Path(__file__).resolve().parent / "locustfile.py"

        class Locust(ManagedProcess):
            name = "locust"

            def command(self) -> list[str]:
                return [
                    sys.executable,
                    "-m",
                    "locust",
                    "-f",
                    str(locustfile),
                    "--headless",
                    "--users",
                    "8",
                    "--spawn-rate",
                    "2",
                    "--host",
                    targets[0],
                    "--only-summary",
                ]

        env = {**fleet.base_env(), "SHOP_TARGETS": ",".join(targets)}
        self.process = Locust(env=env, workdir=fleet.state_dir / "locust")

    def start(self) -> _LocustProcess:
        self.process.start()
        print(f"locust running (log: {self.process.log_path})", flush=True)
        return self

    def stop(self) -> None:
        self.process.stop()

    summary = None  # Locust prints its own summary into its log when it stops


def _print_banner(fleet: Any, args: argparse.Namespace) -> None:
    print("\nThe sample fleet is up:", flush=True)
    for name, url in fleet.urls().items():
        print(f"  {name:18} {url}")
    if fleet.prometheus is not None:
        print(f"  {'targets':18} {fleet.prometheus.url}/targets")
        print(f"  {'alerts':18} {fleet.prometheus.url}/alerts")
    for note in fleet.notes:
        print(f"  note: {note}")
    print(
        f"\nFault injection (shared by every instance), e.g. an error burst:\n"
        f"  curl -X POST -H 'Authorization: Bearer {fleet.faults_token}' -d '{{\"error_rate\": 0.5}}' "
        f"{fleet.instances[0].url}/faults/\n"
        f"  or: SHOP_FAULTS_FILE={fleet.faults_file} python -m sample_app faults --error-rate 0.5\n"
        f"Logs: {fleet.state_dir}/instances/*/gunicorn.log. Load: {args.load}. Press Ctrl-C to stop.\n",
        flush=True,
    )


def _wait(duration: float, summary: Callable[[], str] | None) -> None:
    """Sleep until ``duration`` has passed (forever when 0), reporting the load now and then."""
    deadline = time.monotonic() + duration if duration > 0 else None
    next_report = time.monotonic() + 30
    while deadline is None or time.monotonic() < deadline:
        time.sleep(1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic())))
        if summary is not None and time.monotonic() >= next_report:
            print(f"load: {summary()}", flush=True)
            next_report = time.monotonic() + 30
