"""``fleetobs serve SERVER ARGS...``: see :mod:`instrumentation.servers.launch`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fleetobs_cli import example
from instrumentation.servers import launch, logconfig


def _serve(args: argparse.Namespace) -> int:
    try:
        launch.run(args.server, args.server_args)
    except ModuleNotFoundError as exc:
        print(
            f"fleetobs serve: {args.server} needs the {exc.name} package, which is not installed; "
            f"pip install {args.server}",
            file=sys.stderr,
        )
        return 2
    return 0


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run uvicorn, hypercorn, granian or daphne with fleet-wide metrics and JSON logs",
        description=(
            "Run an ASGI server with every worker's metrics in one multiprocess directory and the "
            "server's own log lines in the same JSON. Everything after SERVER is the server's own "
            "command line. A bad server argument is the server's own error and exit status."
        ),
        epilog=example(
            "fleetobs serve uvicorn project.asgi:application --workers 4",
            "fleetobs serve granian --interface asgi project.asgi:application --workers 2",
        ),
    )
    serve.add_argument(
        "server", choices=logconfig.SERVERS, metavar="SERVER", help=", ".join(logconfig.SERVERS)
    )
    serve.add_argument("server_args", nargs=argparse.REMAINDER, metavar="ARGS", help="the server's arguments")
    serve.set_defaults(func=_serve)
