"""``fleetobs dashboards``: generate the dashboards and provisioning files, or upload them.

``generate --out DIR [--provisioning DIR]`` writes one JSON file per dashboard (and the Grafana
datasource and dashboard-provider files); the output is byte-identical on every run.
``upload --url URL --token TOKEN [--folder NAME]`` saves them into a running Grafana; the token
may also come from ``GRAFANA_TOKEN`` so it stays out of shell history.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dashboards import uids


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("dashboards", help="generate or upload the Grafana dashboards")
    commands = parser.add_subparsers(dest="dashboards_command", metavar="COMMAND", required=True)

    generate = commands.add_parser("generate", help="write dashboard JSON (and provisioning files)")
    generate.add_argument("--out", type=Path, required=True, help="directory for the dashboard JSON files")
    generate.add_argument(
        "--provisioning", type=Path, help="also write Grafana provisioning files (datasources, provider) here"
    )
    generate.set_defaults(func=_generate)

    upload = commands.add_parser("upload", help="save the dashboards into a running Grafana")
    upload.add_argument("--url", required=True, help="Grafana base URL, e.g. http://localhost:3000")
    upload.add_argument(
        "--token",
        default=os.environ.get("GRAFANA_TOKEN"),
        help="service-account token (default: $GRAFANA_TOKEN)",
    )
    upload.add_argument(
        "--folder", default=uids.FOLDER_TITLE, help=f"folder title (default: {uids.FOLDER_TITLE})"
    )
    upload.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request (default: 10)")
    upload.set_defaults(func=_upload)


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
        print("fleetobs dashboards upload: a token is required (--token or GRAFANA_TOKEN)", file=sys.stderr)
        return 2
    client = GrafanaClient(args.url, args.token, args.timeout)
    try:
        urls = upload(client, generate.dashboards(), args.folder)
    except UploadError as exc:
        print(f"fleetobs dashboards upload: {exc}", file=sys.stderr)
        return 1
    base = args.url.rstrip("/")
    for url in urls:
        print(f"{base}{url}")
    return 0
