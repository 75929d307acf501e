"""Where the microseconds go: a statistical profile of the request path, summarised per request.

pyinstrument samples the stack every 500 µs while the worker serves requests (cProfile is the
fallback when pyinstrument is not installed). The summary divides times by the number of
requests:

``total_us``            wall time per request under the profiler (profiling inflates it a little).
``instrumentation_us``  time in this project's frames (``instrumentation/``) and in the libraries
                        they call (prometheus_client, opentelemetry, orjson...), but not in the
                        application they wrap (the middleware chain and view below the
                        middleware, the query below the database hook, the cache backend).
``entry_points``        inclusive time of each of this project's functions (recursion counted
                        once), largest first: the middleware's steps and what they call.
``hot_functions``       self time of every function while inside this project's frames, largest
                        first: where the instrumentation's time is actually spent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

INTERVAL = 0.0005
TOP = 15
_OWN = os.sep + "instrumentation" + os.sep
_DJANGO = os.sep + "django" + os.sep
#: This project's functions that wrap application code: Django frames directly below them
#: (the rest of the middleware chain and the view, the query, the cache backend) are not ours.
_BOUNDARIES = {
    "instrumentation/middleware.py": ("__call__", "__acall__"),
    "instrumentation/db.py": ("_execute_wrapper", "connect"),
    "instrumentation/cache.py": ("wrapper",),
}


def _short(path: str) -> str:
    for marker in ("site-packages" + os.sep, os.sep + "lib" + os.sep + "python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    for marker in (_OWN, os.sep + "benchmarks" + os.sep):
        if marker in path:
            return marker.strip(os.sep) + os.sep + path.split(marker, 1)[1]
    return path


def profile(work: Callable[[], None], requests: int) -> dict[str, Any]:
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        return _cprofile(work, requests)
    return _pyinstrument(work, requests)


def _pyinstrument(work: Callable[[], None], requests: int) -> dict[str, Any]:
    import pyinstrument
    from pyinstrument import Profiler

    profiler = Profiler(interval=INTERVAL)
    profiler.start()
    work()
    profiler.stop()
    session = profiler.last_session
    root = session.root_frame() if session is not None else None
    if root is None:
        return {"tool": "pyinstrument", "error": "no samples"}
    inclusive: dict[str, float] = {}
    own_self: dict[str, float] = {}
    own_total = 0.0

    def key(frame: Any) -> str:
        return f"{frame.function} ({_short(frame.file_path or '')}:{frame.line_no})"

    def walk(frame: Any, stack: frozenset[str], inside: bool, app_children: bool) -> None:
        nonlocal own_total
        path = frame.file_path or ""
        is_own = _OWN in path and not frame.is_synthetic
        if not is_own and app_children and _DJANGO in path:
            inside = False  # the application our wrapper calls: not instrumentation time
        elif is_own:
            inside = True
        name = key(frame)
        boundary = is_own and frame.function in _BOUNDARIES.get(_short(path), ())
        if is_own and not boundary and name not in stack:
            inclusive[name] = inclusive.get(name, 0.0) + frame.time
        if inside and not frame.is_synthetic:
            own_self[name] = own_self.get(name, 0.0) + frame.total_self_time
            own_total += frame.total_self_time
        for child in frame.children:
            walk(child, stack | {name}, inside, boundary)

    walk(root, frozenset(), False, False)
    scale = 1e6 / requests
    return {
        "tool": f"pyinstrument {pyinstrument.__version__}, {INTERVAL * 1e6:.0f} µs interval",
        "requests": requests,
        "total_us": round(root.time * scale, 1),
        "instrumentation_us": round(own_total * scale, 1),
        "entry_points": _top(inclusive, scale),
        "hot_functions": _top(own_self, scale),
    }


def _top(times: dict[str, float], scale: float) -> list[dict[str, Any]]:
    ranked = sorted(times.items(), key=lambda item: item[1], reverse=True)[:TOP]
    return [{"function": name, "us_per_request": round(value * scale, 2)} for name, value in ranked]


def _cprofile(work: Callable[[], None], requests: int) -> dict[str, Any]:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(work)
    table = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    scale = 1e6 / requests
    inclusive: dict[str, float] = {}
    own_self: dict[str, float] = {}
    total = 0.0
    for (path, line, function), (_cc, _nc, tottime, cumtime, _callers) in table.items():
        total += tottime
        if _OWN in path:
            name = f"{function} ({_short(path)}:{line})"
            inclusive[name] = cumtime
            own_self[name] = tottime
    return {
        "tool": "cProfile (deterministic; inflates small functions)",
        "requests": requests,
        "total_us": round(total * scale, 1),
        "instrumentation_us": None,
        "entry_points": _top(inclusive, scale),
        "hot_functions": _top(own_self, scale),
    }
