"""What ``fleetobs demo`` reports once its fleet has run a while, on a background thread:

* the doctor's verdict (``fleetobs doctor`` against the demo's Prometheus and Alertmanager), as
  soon as the generated rules have been evaluated, with every error and warning line;
* a snapshot of every dashboard over the time the fleet has run (``fleetobs dashboards
  snapshot``), written under the state directory and served on a local port, so the dashboards
  can be seen without Grafana.

Neither may stop the demo: a failure is one line on the console.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: Ports tried first for the snapshot (then any free one).
SNAPSHOT_PORT = 9097
_DOCTOR_DEADLINE = 180.0


class DemoReports:
    """Runs the doctor, then the snapshot after ``snapshot_after`` seconds (0: no snapshot)."""

    def __init__(
        self,
        fleet: Any,
        *,
        snapshot_after: float,
        print_line: Callable[[str], None],
        started: float | None = None,
    ) -> None:
        self._fleet = fleet
        self._snapshot_after = snapshot_after
        self._print = print_line
        self._started = started if started is not None else time.time()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread = threading.Thread(target=self._run, name="demo-reports", daemon=True)

    def start(self) -> DemoReports:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _run(self) -> None:
        try:
            self._doctor()
        except Exception as exc:  # noqa: BLE001 - a report must never stop the demo
            self._print(f"doctor: could not run ({exc})")
        if self._snapshot_after <= 0 or self._stop.wait(self._snapshot_after):
            return
        try:
            self._snapshot()
        except Exception as exc:  # noqa: BLE001
            self._print(f"dashboards snapshot: not taken ({exc})")

    def _doctor(self) -> None:
        from doctor import Options, Severity, run

        prometheus = self._fleet.prometheus
        if prometheus is None:
            return
        alertmanager = getattr(self._fleet, "alertmanager", None)
        options = Options(prometheus=prometheus.url, alertmanager=alertmanager.url if alertmanager else None)
        deadline = time.monotonic() + _DOCTOR_DEADLINE
        report = run(options)
        # Right after start the rules have not been evaluated and the traffic has just begun:
        # wait until the doctor has a steady picture (or the deadline passes).
        while report.exit_code != 0 and time.monotonic() < deadline:
            if self._stop.wait(10):
                return
            report = run(options)
        notes = len(report.by_severity(Severity.INFO))
        lines = [f"doctor: {report.verdict()}, {notes} notes (fleetobs doctor --prometheus {prometheus.url})"]
        for severity in (Severity.ERROR, Severity.WARNING):
            lines += [
                f"  {severity.name}: [{f.check}] {f.subject}: {f.message}"
                for f in report.by_severity(severity)
            ]
        for line in lines:
            self._print(line)

    def _snapshot(self) -> None:
        from dashboards.snapshot import Prometheus, take

        out = Path(self._fleet.state_dir) / "snapshot"
        end = time.time()
        snap = take(Prometheus(self._fleet.prometheus.url), out, max(self._started, end - 3600), end)
        handler = functools.partial(_Silent, directory=str(out))
        server = None
        for port in (SNAPSHOT_PORT, 0):
            with contextlib.suppress(OSError):
                server = ThreadingHTTPServer(("127.0.0.1", port), handler)
                break
        if server is None:
            self._print(f"dashboards snapshot: {snap.index} (taken in {snap.seconds:.1f} s)")
            return
        self._server = server
        threading.Thread(target=server.serve_forever, name="demo-snapshot", daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        self._print(f"dashboards snapshot: {url} (files in {out}, taken in {snap.seconds:.1f} s)")


class _Silent(SimpleHTTPRequestHandler):
    """The static file handler without a console line per request."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None
