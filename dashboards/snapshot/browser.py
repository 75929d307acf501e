"""Open a snapshot page in headless Chromium: a full-page screenshot, and what the page did.

Chromium is driven over its DevTools protocol on a pipe (``--remote-debugging-pipe``: commands
on file descriptor 3, replies on 4, each a JSON message ended by a NUL byte), so nothing but the
browser itself is needed. :func:`visit` loads a ``file://`` page with the network emulated
offline, records every request the page makes for anything that is not the page itself (or a
``data:`` URL) and every console message and uncaught exception, and can save a PNG of the whole
page at a given width in the light or dark colour scheme.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Flags for a quiet, sandbox-free (tests run as root), offline-friendly headless browser.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
)
#: Puts the pipe ends on the descriptors Chromium reads (3) and writes (4), then runs it. (A shell
#: cannot: dash refuses descriptors above 9, and Debian's chromium is itself a shell script.)
_LAUNCHER = """
import fcntl, os, sys
ends = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3]]
for fd in sys.argv[1:3]:
    os.close(int(fd))
os.dup2(ends[0], 3)
os.dup2(ends[1], 4)
os.execvp(sys.argv[3], sys.argv[3:])
"""
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


class BrowserError(RuntimeError):
    pass


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) binary on PATH, if any."""
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


@dataclass
class Visit:
    """What a page did while it loaded."""

    url: str
    #: Console messages of level error or warning, and uncaught exceptions, as text.
    console_errors: list[str] = field(default_factory=list)
    #: Every request for something other than the page (file:// of the page, data: URLs).
    requests: list[str] = field(default_factory=list)
    #: Height of the whole page, CSS pixels.
    height: int = 0
    screenshot: Path | None = None


class _Pipe:
    def __init__(self, process: subprocess.Popen[bytes], writer: int, reader: int, log: Path) -> None:
        self.process = process
        self.log = log
        self.writer = writer
        self.reader = reader
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def log_tail(self, lines: int = 15) -> str:
        """The end of Chromium's own log (its bus and GPU chatter left out)."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        kept = [line for line in text.splitlines() if "dbus" not in line]
        return "\n".join(kept[-lines:])

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self.reader, 1 << 16)
            if not chunk:
                raise BrowserError(f"Chromium closed its DevTools pipe:\n{self.log_tail()}")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(self, method: str, session: str | None = None, timeout: float = 60.0, **params: Any) -> Any:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.writer, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for i, seen in enumerate(self.events):
            if seen["method"] == event:
                return self.events.pop(i)
        while True:
            message = self._read_message(deadline)
            if message.get("method") == event:
                return message
            if "method" in message:
                self.events.append(message)


def _start(binary: str, profile: str) -> _Pipe:
    log = (Path(profile) / "chromium.log").open("wb")  # closed below, once Chromium has it
    to_browser_read, to_browser_write = os.pipe()
    from_browser_read, from_browser_write = os.pipe()

    command = [binary, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"]
    process = subprocess.Popen(  # noqa: S603 - a fixed browser command
        [sys.executable, "-c", _LAUNCHER, str(to_browser_read), str(from_browser_write), *command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log,
        pass_fds=(to_browser_read, from_browser_write),
        start_new_session=True,  # its helper processes are stopped with it
    )
    log.close()
    os.close(to_browser_read)
    os.close(from_browser_write)
    return _Pipe(process, to_browser_write, from_browser_read, Path(profile) / "chromium.log")


def visit(
    page: Path,
    *,
    screenshot: Path | None = None,
    width: int = 1400,
    dark: bool = False,
    binary: str | None = None,
    timeout: float = 60.0,
) -> Visit:
    """Load ``page`` offline in headless Chromium ``width`` pixels wide; optionally save a PNG."""
    binary = binary or find_chromium()
    if binary is None:
        raise BrowserError("no Chromium found on PATH (Debian: apt-get install chromium)")
    url = page.resolve().as_uri()
    result = Visit(url)
    with tempfile.TemporaryDirectory(prefix="snapshot-chromium-", ignore_cleanup_errors=True) as profile:
        pipe = _start(binary, profile)
        try:
            target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
            session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Network", "Log"):
                pipe.call(f"{domain}.enable", session)
            pipe.call(
                "Network.emulateNetworkConditions",
                session,
                offline=True,
                latency=0,
                downloadThroughput=-1,
                uploadThroughput=-1,
            )
            pipe.call(
                "Emulation.setEmulatedMedia",
                session,
                features=[{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}],
            )
            pipe.call(
                "Emulation.setDeviceMetricsOverride",
                session,
                width=width,
                height=900,
                deviceScaleFactor=1,
                mobile=False,
            )
            pipe.call("Page.navigate", session, url=url)
            pipe.wait_for("Page.loadEventFired", timeout)
            height = pipe.call(
                "Runtime.evaluate",
                session,
                expression="document.documentElement.scrollHeight",
                returnByValue=True,
            )["result"]["value"]
            result.height = int(height)
            if screenshot is not None:
                pipe.call(
                    "Emulation.setDeviceMetricsOverride",
                    session,
                    width=width,
                    height=result.height,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                shot = pipe.call(
                    "Page.captureScreenshot", session, timeout, format="png", captureBeyondViewport=True
                )
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                screenshot.write_bytes(base64.b64decode(shot["data"]))
                result.screenshot = screenshot
            pipe.call("Runtime.evaluate", session, expression="0")  # drain the events sent so far
            _collect(pipe.events, result)
        finally:
            _stop(pipe)
    return result


def _stop(pipe: _Pipe) -> None:
    """Close the browser, asking first; then its whole process group (it was started in its own)."""
    with contextlib.suppress(BrowserError, OSError):
        pipe.call("Browser.close", timeout=5)
    with contextlib.suppress(subprocess.TimeoutExpired):
        pipe.process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pipe.process.pid, signal.SIGKILL)
    pipe.process.wait()
    os.close(pipe.writer)
    os.close(pipe.reader)


def _collect(events: list[dict[str, Any]], result: Visit) -> None:
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Network.requestWillBeSent":
            requested = params.get("request", {}).get("url", "")
            if requested != result.url and not requested.startswith(("data:", "about:")):
                result.requests.append(requested)
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            result.console_errors.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            result.console_errors.append(f"uncaught: {text}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
            entry = params["entry"]
            result.console_errors.append(
                f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip()
            )
