"""The fault-injection switch: error bursts, latency spikes and the flaky endpoint's failure rate.

The switch is a small JSON file named by ``SHOP_FAULTS_FILE``. Every worker of every instance that
shares the file sees a change on its next request: the file's identity (inode, size, mtime) is
checked with one ``stat`` per request and the file is only re-read when it changed. Writers replace
it atomically, so a reader never sees half a file. Three ways to flip it::

    python -m sample_app faults --error-rate 0.5          # management command
    curl -X POST -H "Authorization: Bearer $SHOP_FAULTS_TOKEN" \\
         -d '{"error_rate": 0.5}' http://127.0.0.1:8000/faults/
    sample_app.shop.faults.write(Faults(error_rate=0.5), path)   # from Python (tests, the demo)

``error_rate`` and the latency settings apply to every ``/shop/`` request (through
:func:`fault_injection_middleware`); ``failure_rate`` is how often ``/shop/flaky/`` fails, and
falls back to ``SHOP_FAILURE_RATE`` (default 0.1) when the file does not set it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

ENV_FILE = "SHOP_FAULTS_FILE"
ENV_FAILURE_RATE = "SHOP_FAILURE_RATE"
DEFAULT_FAILURE_RATE = 0.1
#: Requests under this prefix are subject to error bursts and latency spikes.
FAULTY_PREFIX = "/shop/"
#: Upper bound of an injected delay, so a typo cannot hang every worker for hours.
MAX_LATENCY_SECONDS = 60.0


class InjectedFaultError(RuntimeError):
    """Raised by a request chosen to fail by an error burst."""


@dataclass(frozen=True)
class Faults:
    """The switch's state. Rates are probabilities in [0, 1]."""

    error_rate: float = 0.0
    latency_seconds: float = 0.0
    latency_rate: float = 1.0
    failure_rate: float | None = None

    def __post_init__(self) -> None:
        for name in ("error_rate", "latency_rate", "failure_rate"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if not 0.0 <= self.latency_seconds <= MAX_LATENCY_SECONDS:
            raise ValueError(
                f"latency_seconds must be between 0 and {MAX_LATENCY_SECONDS}, got {self.latency_seconds!r}"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faults:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}; known: {sorted(known)}")
        values = {k: (None if v is None else float(v)) for k, v in data.items()}
        return cls(**values)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def effective_failure_rate(self) -> float:
        if self.failure_rate is not None:
            return self.failure_rate
        return float(os.environ.get(ENV_FAILURE_RATE, DEFAULT_FAILURE_RATE))


NO_FAULTS = Faults()


def faults_path() -> Path | None:
    """The switch file from ``SHOP_FAULTS_FILE``, or None when fault injection is not set up."""
    value = os.environ.get(ENV_FILE)
    return Path(value) if value else None


class _Cache:
    """The last state read, keyed by the file's identity; shared by the threads of a worker."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[str, int, int, int] | None = None
        self.faults = NO_FAULTS


_cache = _Cache()


def reset() -> None:
    """Forget the cached state (tests)."""
    global _cache
    _cache = _Cache()


def current(path: Path | None = None) -> Faults:
    """The switch's state now. A missing, unreadable or invalid file means no faults."""
    path = path or faults_path()
    if path is None:
        return NO_FAULTS
    try:
        st = path.stat()
    except OSError:
        return NO_FAULTS
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    cache = _cache
    if cache.key == key:
        return cache.faults
    with cache.lock:
        try:
            faults = Faults.from_dict(json.loads(path.read_text() or "{}"))
        except (OSError, ValueError, TypeError):
            faults = NO_FAULTS
        cache.key, cache.faults = key, faults
    return faults


def write(faults: Faults, path: Path | None = None) -> Path:
    """Replace the switch file atomically with ``faults``; return its path."""
    path = path or faults_path()
    if path is None:
        raise ValueError(f"no fault switch file: set {ENV_FILE}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(faults.to_dict(), handle, indent=2, sort_keys=True)
            handle.write("\n")
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def update(path: Path | None = None, **changes: float | None) -> Faults:
    """Change some settings, keep the others; return the new state."""
    faults = replace(current(path), **changes)  # type: ignore[arg-type]
    write(faults, path)
    return faults


def clear(path: Path | None = None) -> Faults:
    """Turn every fault off (the flaky endpoint returns to its default rate)."""
    write(NO_FAULTS, path)
    return NO_FAULTS


def _plan(request: HttpRequest) -> tuple[float, bool]:
    """(delay in seconds, whether to fail) for one request."""
    if not request.path.startswith(FAULTY_PREFIX):
        return 0.0, False
    faults = current()
    if faults is NO_FAULTS:
        return 0.0, False
    delay = 0.0
    if faults.latency_seconds > 0 and random.random() < faults.latency_rate:
        delay = faults.latency_seconds
    fail = faults.error_rate > 0 and random.random() < faults.error_rate
    return delay, fail


@sync_and_async_middleware
def fault_injection_middleware(
    get_response: Callable[[HttpRequest], Any],
) -> Callable[[HttpRequest], Any]:
    """Delay and/or fail ``/shop/`` requests as the switch says. Failures raise, giving a 500."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            delay, fail = _plan(request)
            if delay:
                await asyncio.sleep(delay)
            if fail:
                raise InjectedFaultError("injected error burst")
            response: HttpResponse = await get_response(request)
            return response

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        delay, fail = _plan(request)
        if delay:
            time.sleep(delay)
        if fail:
            raise InjectedFaultError("injected error burst")
        response: HttpResponse = get_response(request)
        return response

    return middleware
