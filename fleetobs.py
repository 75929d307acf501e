"""The ``fleetobs`` command: a thin dispatcher.

Each package contributes its own subcommands through a ``cli`` module exposing
``register(subparsers)``; the dispatcher only collects them. A package whose optional
dependencies are missing simply contributes nothing, and says why when asked for.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib import metadata

#: Modules that add subcommands, in the order they appear in ``--help``.
PLUGINS = (
    "instrumentation.cli",
    "instrumentation.logging.cli",
    "instrumentation.servers.cli",
    "dashboards.cli",
    "alerting.cli",
    "sample_app.cli",
    "doctor.cli",
)


def version() -> str:
    try:
        return metadata.version("django-fleet-observability")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetobs",
        description="Metrics, traces, logs, dashboards and alerts for fleets of Django services.",
    )
    parser.add_argument("--version", action="version", version=f"fleetobs {version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in PLUGINS:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            missing = exc.name or name
            sub = subparsers.add_parser(
                name.split(".")[-2] if name.endswith(".cli") else name,
                help=f"(unavailable: {missing} is not installed)",
            )
            sub.set_defaults(func=_unavailable(name, missing))
            continue
        module.register(subparsers)
    return parser


def _unavailable(plugin: str, missing: str):  # type: ignore[no-untyped-def]
    def run(_args: argparse.Namespace) -> int:
        print(f"fleetobs: {plugin} needs {missing}; install django-fleet-observability[dev]", file=sys.stderr)
        return 2

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
