"""The snapshot's time range, written as on Grafana's time picker or as absolute times.

``now``, ``now-1h``, ``-1h`` (short for ``now-1h``), ``now-1h30m``; an ISO 8601 time
(``2026-05-01T12:00:00Z``, a time without zone is UTC); or epoch seconds. Durations take
Prometheus' units (``ms``, ``s``, ``m``, ``h``, ``d``, ``w``, ``y``). Grafana's rounding
suffixes (``now/d``) are not supported and say so.
"""

from __future__ import annotations

import datetime as dt

from dashboards.snapshot.prometheus import parse_duration


def parse_time(text: str, now: float) -> float:
    """Epoch seconds for ``text`` (see the module docstring); ``ValueError`` names what is wrong."""
    spec = text.strip()
    if "/" in spec:
        raise ValueError(f"rounded times such as {text!r} are not supported; use now-1h or an ISO time")
    if spec.startswith("-"):
        spec = "now" + spec
    if spec.startswith("now"):
        rest = spec[3:].replace(" ", "")
        if not rest:
            return now
        sign = {"-": -1, "+": 1}.get(rest[0])
        if sign is None:
            raise ValueError(f"expected now, now-<duration> or now+<duration>, got {text!r}")
        return now + sign * parse_duration(rest[1:])
    try:
        return float(spec)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(spec.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use now-1h, -1h, an ISO time or epoch seconds)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def parse_range(start: str, end: str, now: float) -> tuple[float, float]:
    """(start, end) in epoch seconds; ``ValueError`` unless start is before end."""
    first, last = parse_time(start, now), parse_time(end, now)
    if first >= last:
        raise ValueError(f"the range must start before it ends: --from {start} is not before --to {end}")
    return first, last
