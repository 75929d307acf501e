"""``faults``: show or flip the fault-injection switch shared by every worker and instance.

Examples::

    python -m sample_app faults                      # show the current state
    python -m sample_app faults --error-rate 0.5     # error burst: half of /shop/ requests fail
    python -m sample_app faults --latency 2 --latency-rate 0.3
    python -m sample_app faults --failure-rate 0.9   # /shop/flaky/ fails 90% of the time
    python -m sample_app faults --clear
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sample_app.shop import faults


class Command(BaseCommand):
    help = "Show or change the fault-injection switch (SHOP_FAULTS_FILE)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", type=Path, help="switch file (default: $SHOP_FAULTS_FILE)")
        parser.add_argument("--error-rate", type=float, help="share of /shop/ requests that fail (0-1)")
        parser.add_argument(
            "--latency", type=float, dest="latency_seconds", help="seconds added to /shop/ requests"
        )
        parser.add_argument("--latency-rate", type=float, help="share of /shop/ requests delayed (0-1)")
        parser.add_argument("--failure-rate", type=float, help="failure rate of /shop/flaky/ (0-1)")
        parser.add_argument("--clear", action="store_true", help="turn every fault off")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"] or faults.faults_path()
        if path is None:
            raise CommandError(f"no switch file: pass --file or set {faults.ENV_FILE}")
        names = ("error_rate", "latency_seconds", "latency_rate", "failure_rate")
        changes = {name: options[name] for name in names if options[name] is not None}
        try:
            if options["clear"]:
                state = faults.clear(path)
            elif changes:
                state = faults.update(path, **changes)
            else:
                state = faults.current(path)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(state.to_dict(), sort_keys=True))
