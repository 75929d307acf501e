"""``fleetobs dashboards``: generate the dashboards and provisioning files, or upload them.

``generate --out DIR [--provisioning DIR]`` writes one JSON file per dashboard (and the Grafana
datasource and dashboard-provider files); the output is byte-identical on every run.
``upload --url URL --token TOKEN [--folder NAME] [--quiet]`` saves them into a running Grafana (a
progress line on stderr for the folder and each dashboard saved; stdout lists their URLs); the
token may also come from ``GRAFANA_TOKEN`` so it stays out of shell history.
``snapshot --prometheus URL --out DIR`` draws them from a Prometheus into HTML pages, without Grafana
(see :mod:`dashboards.snapshot`).

A bad argument is one line on stderr and exit 2; a Grafana or Prometheus that cannot be reached or
refuses is one line naming its URL and exit 1.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from dashboards import uids
from fleetobs_cli import Refused, Unreachable, UsageError, example, http_url, number, output_dir
from fleetobs_cli.progress import quiet_argument


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dashboards",
        help="generate or upload the Grafana dashboards",
        epilog=example(
            "fleetobs dashboards generate --out dashboards/",
            "fleetobs dashboards upload --url http://localhost:3000",
        ),
    )
    commands = parser.add_subparsers(dest="dashboards_command", metavar="COMMAND", required=True)

    generate = commands.add_parser(
        "generate",
        help="write dashboard JSON (and provisioning files)",
        epilog=example(
            "fleetobs dashboards generate --out grafana/dashboards --provisioning grafana/provisioning"
        ),
    )
    generate.add_argument(
        "--out", type=output_dir, required=True, help="directory for the dashboard JSON files"
    )
    generate.add_argument(
        "--provisioning",
        type=output_dir,
        help="also write Grafana provisioning files (datasources, provider) here",
    )
    generate.set_defaults(func=_generate)

    upload = commands.add_parser(
        "upload",
        help="save the dashboards into a running Grafana",
        epilog=example("GRAFANA_TOKEN=glsa_... fleetobs dashboards upload --url http://localhost:3000"),
    )
    upload.add_argument(
        "--url", type=http_url, required=True, help="Grafana base URL, e.g. http://localhost:3000"
    )
    upload.add_argument(
        "--token",
        default=os.environ.get("GRAFANA_TOKEN"),
        help="service-account token (default: $GRAFANA_TOKEN)",
    )
    upload.add_argument(
        "--folder", default=uids.FOLDER_TITLE, help=f"folder title (default: {uids.FOLDER_TITLE})"
    )
    upload.add_argument(
        "--timeout", type=_seconds, default=10.0, help="seconds per HTTP request (default: 10)"
    )
    quiet_argument(upload)
    upload.set_defaults(func=_upload)

    snapshot = commands.add_parser(
        "snapshot",
        help="draw the dashboards from a Prometheus into HTML pages, without Grafana",
        description=(
            "Run every panel of the generated dashboards against a Prometheus over a time range, "
            "as Grafana would, and write one self-contained HTML page per dashboard plus index.html."
        ),
        epilog=example(
            "fleetobs dashboards snapshot --prometheus http://localhost:9090 --from -3h --out snapshot/"
        ),
    )
    # Lets `--from -1h` through as a value: argparse takes only plain negative numbers for values.
    snapshot._negative_number_matcher = re.compile(r"^-\d+(?:\.\d+)?(?:ms|[smhdwy])?(?:\d+(?:ms|[smhdwy]))*$")
    snapshot.add_argument(
        "--prometheus", type=http_url, required=True, metavar="URL", help="Prometheus base URL"
    )
    snapshot.add_argument(
        "--from",
        dest="start",
        default="now-1h",
        metavar="TIME",
        help="start: now-1h, -1h, ISO time (default now-1h)",
    )
    snapshot.add_argument("--to", dest="end", default="now", metavar="TIME", help="end (default now)")
    snapshot.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a variable's value (repeat for several values; All selects All); default: the dashboard's",
    )
    snapshot.add_argument(
        "--dashboard", action="append", default=[], metavar="UID", help="only this dashboard (repeatable)"
    )
    snapshot.add_argument("--out", type=output_dir, required=True, help="directory for the HTML pages")
    snapshot.add_argument(
        "--scrape-interval",
        metavar="DURATION",
        help="the datasource scrape interval Grafana would use (default: the Prometheus' own)",
    )
    snapshot.add_argument(
        "--timeout", type=_seconds, default=30.0, help="seconds per Prometheus request (default 30)"
    )
    snapshot.set_defaults(func=_snapshot)


_seconds = number(minimum=0, exclusive_minimum=True)


def _generate(args: argparse.Namespace) -> int:
    from dashboards import generate

    written = generate.write(args.out, args.provisioning)
    for path in written:
        print(path)
    return 0


def _upload(args: argparse.Namespace) -> int:
    from dashboards import generate
    from dashboards.upload import GrafanaClient, UploadError, upload

    if not args.token:
        raise UsageError("a token is required: pass --token or set GRAFANA_TOKEN")
    client = GrafanaClient(args.url, args.token, args.timeout)
    dashboards = generate.dashboards()
    try:
        urls = upload(client, dashboards, args.folder, quiet=args.quiet)
    except UploadError as exc:  # its message names the URL when Grafana cannot be reached
        raise Refused(str(exc)) from None
    base = args.url.rstrip("/")
    for url in urls:
        print(f"{base}{url}")
    return 0


def _snapshot(args: argparse.Namespace) -> int:
    import time

    from dashboards.expand import parse_choices
    from dashboards.snapshot import Prometheus, PrometheusUnavailable, take
    from dashboards.snapshot.prometheus import parse_duration
    from dashboards.snapshot.timerange import parse_range

    try:
        start, end = parse_range(args.start, args.end, time.time())
        choices = parse_choices(args.var)
        scrape = parse_duration(args.scrape_interval) if args.scrape_interval else None
        snapshot = take(
            Prometheus(args.prometheus, timeout=args.timeout),
            args.out,
            start,
            end,
            choices=choices,
            uids=args.dashboard,
            scrape_interval=scrape,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except PrometheusUnavailable as exc:
        raise Unreachable(
            "Prometheus", args.prometheus, str(exc).removeprefix(f"{args.prometheus}: ")
        ) from None
    for path in snapshot.pages.values():
        print(path)
    print(snapshot.index)
    print(f"{len(snapshot.pages)} dashboard(s) in {snapshot.seconds:.1f} s", file=sys.stderr)
    return 0
