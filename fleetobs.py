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

from fleetobs_cli import Parser, example
from fleetobs_cli import run as run_command

#: Modules that add subcommands, in the order they appear in ``--help``.
PLUGINS = (
    "instrumentation.cli",
    "instrumentation.logging.cli",
    "instrumentation.servers.cli",
    "dashboards.cli",
    "alerting.cli",
    "sample_app.cli",
    "doctor.cli",
    "fleetobs_cli.generate",
)


#: The extra that brings a plugin's optional dependencies.
_EXTRAS = {"dashboards.cli": "dashboards", "sample_app.cli": "sample"}


def version() -> str:
    try:
        return metadata.version("django-fleet-observability")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="fleetobs",
        description="Metrics, traces, logs, dashboards and alerts for fleets of Django services.\n"
        "Exit status: 0 done, 1 a backend could not be reached or refused, 2 a usage error "
        "(fleetobs doctor: 1 findings, 2 cannot check).",
        epilog=example("fleetobs alerts generate --out rules/", "fleetobs dashboards generate --help"),
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
    _name_commands(parser)
    return parser


def _name_commands(parser: argparse.ArgumentParser) -> None:
    """Give every command its full name (``fleetobs alerts generate``) for its error lines."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(fleetobs_command=sub.prog)
                _name_commands(sub)


def _unavailable(plugin: str, missing: str):  # type: ignore[no-untyped-def]
    def run(_args: argparse.Namespace) -> int:
        print(
            f"fleetobs: {plugin} needs {missing}; install it with "
            f"pip install 'django-fleet-observability[{_EXTRAS.get(plugin, 'dev')}]'",
            file=sys.stderr,
        )
        return 2

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and argparse's one-line errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    return run_command(getattr(args, "fleetobs_command", "fleetobs"), func, args)


if __name__ == "__main__":
    sys.exit(main())
