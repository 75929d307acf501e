"""A tiny Alertmanager webhook receiver for the compose demo.

Alertmanager posts each notification (a group of alerts) here as JSON. The sink prints one line
per alert to stdout, so ``docker compose logs -f webhook-sink`` shows what would have paged or
ticketed someone, and keeps the last notifications in memory for ``GET /`` (newest last).
``GET /healthz`` answers 200 for the container healthcheck. Standard library only, so it runs on
the plain Python image.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEEP = 200
_received: collections.deque[dict[str, Any]] = collections.deque(maxlen=KEEP)
_lock = threading.Lock()


def summarize(notification: dict[str, Any]) -> list[str]:
    """One human-readable line per alert in an Alertmanager webhook payload.

    Slack-formatted notifications (the demo points Alertmanager's Slack URL here too) give one
    line per attachment.
    """
    if "attachments" in notification:
        channel = notification.get("channel", "?")
        return [f"[slack {channel}] {a.get('title', '')}" for a in notification["attachments"]]
    lines = []
    receiver = notification.get("receiver", "?")
    for alert in notification.get("alerts", []):
        labels = alert.get("labels", {})
        summary = alert.get("annotations", {}).get("summary", "")
        lines.append(
            f"[{receiver}] {alert.get('status', '?').upper()} {labels.get('alertname', '?')} "
            f"severity={labels.get('severity', '-')} job={labels.get('job', '-')} "
            f"instance={labels.get('instance', '-')} :: {summary}"
        )
    return lines


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            payload = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self.send_error(400, "body is not JSON")
            return
        with _lock:
            _received.append(payload)
        for line in summarize(payload):
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        # Alertmanager's Slack notifier (pointed here by the demo) takes anything but a JSON body
        # or a plain "ok" as Slack refusing the message; the other receivers ignore the body.
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            body = b"ok\n"
            content_type = "text/plain"
        else:
            with _lock:
                body = json.dumps(list(_received)).encode()
            content_type = "application/json"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Silence the per-request access log; the alert lines are the useful output."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - listens inside its container
    parser.add_argument("--port", type=int, default=9099)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    sys.stdout.write(f"webhook-sink listening on {args.host}:{args.port}\n")
    sys.stdout.flush()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
