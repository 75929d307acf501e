"""``fleetobs docs generate``: write the documentation generated from the catalogue."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fleetobs_cli import example, output_dir
from instrumentation.catalog.render import metrics_markdown


def _generate(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "metrics.md"
    target.write_text(metrics_markdown(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


def register(subparsers: Any) -> None:
    docs = subparsers.add_parser(
        "docs", help="generated documentation", epilog=example("fleetobs docs generate --out docs/")
    )
    actions = docs.add_subparsers(dest="docs_command", metavar="ACTION", required=True)
    generate = actions.add_parser(
        "generate",
        help="write docs/metrics.md from the signal catalogue",
        epilog=example("fleetobs docs generate --out docs/"),
    )
    generate.add_argument(
        "--out", type=output_dir, default=Path("docs"), help="directory to write into (default: docs)"
    )
    generate.set_defaults(func=_generate)
