"""``fleetobs doctor``: check that a live installation shows what the dashboards and alerts promise.

::

    fleetobs doctor --prometheus URL [--alertmanager URL] [--elasticsearch URL] [--grafana URL]
                    [--job JOB ...] [--range 1h] [--slo FILE] [--max-routes N] [--json] [--quiet]

Read-only against every backend. Prints the report grouped by severity (or JSON) and exits 0 when
healthy, 1 with findings, 2 when something could not be checked (a backend unreachable, bad
arguments). Each check is a progress line on stderr as it finishes (``--quiet``: none).
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from fleetobs_cli import UsageError, example, integer, number, readable_file
from fleetobs_cli.progress import Progress, quiet_argument

_DURATION = re.compile(r"^(\d+)([smhd])$")


def _duration(text: str) -> float:
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration like 15m, 1h or 1d: {text!r}")
    return float(int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)])


def _url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"a URL starting with http:// or https:// is needed, got {text!r}")
    return text


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check that a live Prometheus (Alertmanager, Elasticsearch, Grafana) shows what the "
        "dashboards and alerts promise",
        description="Read-only checks of a live installation. Exit codes: 0 healthy, 1 findings, "
        "2 cannot check (a backend unreachable, bad arguments: argparse's own exit code).",
        epilog=example(
            "fleetobs doctor --prometheus http://localhost:9090 --alertmanager http://localhost:9093 "
            "--slo slo.yaml"
        ),
    )
    parser.add_argument("--prometheus", type=_url, required=True, help="Prometheus base URL")
    parser.add_argument("--alertmanager", type=_url, help="Alertmanager base URL: check routing (dry run)")
    parser.add_argument(
        "--elasticsearch", type=_url, help="Elasticsearch URL: check the log assets and recent logs"
    )
    parser.add_argument(
        "--elasticsearch-api-key",
        default=os.environ.get("FLEETOBS_ELASTICSEARCH_API_KEY"),
        help="Elasticsearch API key (default: $FLEETOBS_ELASTICSEARCH_API_KEY)",
    )
    parser.add_argument("--grafana", type=_url, help="Grafana URL: check the dashboards and datasources")
    parser.add_argument(
        "--grafana-token",
        default=os.environ.get("GRAFANA_TOKEN"),
        help="Grafana token (default: $GRAFANA_TOKEN)",
    )
    parser.add_argument(
        "--job",
        action="append",
        default=[],
        metavar="JOB",
        help="a service (Prometheus job) that must be scraped; repeat for several (default: every job "
        "exposing fleetobs_build_info)",
    )
    parser.add_argument(
        "--range", type=_duration, default=3600.0, help="dashboard time range to check (default: 1h)"
    )
    parser.add_argument(
        "--slo", type=readable_file, help="the SLO spec the rules and Alertmanager config were generated from"
    )
    parser.add_argument(
        "--max-routes",
        type=integer(minimum=1),
        default=200,
        help="most URL patterns a service may have (default: 200)",
    )
    parser.add_argument(
        "--timeout",
        type=number(minimum=0, exclusive_minimum=True),
        default=10.0,
        help="seconds per HTTP request (default: 10)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    quiet_argument(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from alerting.cli import read_spec
    from doctor.run import Options, planned_checks, run

    read_spec(args.slo)  # a bad spec is a usage error, said before any backend is asked
    if args.range <= 0:
        raise UsageError(f"--range must be longer than 0s, got {args.range:g}s")
    options = Options(
        prometheus=args.prometheus,
        alertmanager=args.alertmanager,
        elasticsearch=args.elasticsearch,
        elasticsearch_api_key=args.elasticsearch_api_key,
        grafana=args.grafana,
        grafana_token=args.grafana_token,
        jobs=tuple(dict.fromkeys(args.job)),
        range_seconds=args.range,
        slo_file=args.slo,
        max_routes=args.max_routes,
        timeout=args.timeout,
    )
    report = run(options, Progress(len(planned_checks(options)), quiet=args.quiet))
    sys.stdout.write(report.to_json() if args.json else report.text())
    return report.exit_code
