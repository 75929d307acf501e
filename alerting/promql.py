"""PromQL building blocks that only accept signals the catalogue declares.

Every raw series an expression selects goes through :func:`series`, which looks the name up in
:mod:`instrumentation.catalog` (``<name>_total`` for counters, ``_bucket``/``_count``/``_sum`` for
histograms) and checks every label matcher against the metric's declared labels. A typo in a rule
therefore fails at generation time instead of producing an alert that silently never fires.

Two kinds of names are allowed besides the catalogue:

* the target labels Prometheus adds to every scraped series (``job``, ``instance``, plus
  ``environment`` where the scrape config adds it) and ``le`` on histogram buckets;
* the synthetic ``up`` and ``scrape_samples_scraped`` series, and series recorded by our own
  recording rules (names containing a colon, ``level:metric:operations``), which
  :mod:`alerting.recording` and :mod:`alerting.slo_rules` define.

Durations are written through :class:`Durations`, which can scale every window and ``for:`` clause
down (``time_scale``) to produce a rule variant that fires in seconds for end-to-end tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from instrumentation.catalog import metric

#: Target labels a rule may use: ``job`` and ``instance``, which Prometheus sets on every scraped
#: series, and ``environment``, which only a scrape config that adds it gives (see docs/alerting.md).
TARGET_LABELS = frozenset({"job", "instance", "environment"})
#: The labels that name one deployment of a service, which rules aggregate by (``by``/``on``).
#: Grouping or matching by a label a series lacks is harmless (the result simply lacks it too), so
#: the rules work on a Prometheus that adds no ``environment`` and keep environments apart where
#: one Prometheus scrapes several.
SERVICE = ("job", "environment")
#: Series Prometheus synthesises for every target.
SYNTHETIC_SERIES: dict[str, frozenset[str]] = {"up": frozenset(), "scrape_samples_scraped": frozenset()}

_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')
_RECORDED = re.compile(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")


def _allowed_labels(name: str) -> frozenset[str]:
    """The labels ``name`` may be selected by; raises ``ValueError`` for an unknown series."""
    if name in SYNTHETIC_SERIES:
        return TARGET_LABELS | SYNTHETIC_SERIES[name]
    if _RECORDED.match(name):
        # Recorded series keep whatever labels their rule aggregated by; those rules were
        # themselves built from checked selectors.
        return frozenset({"*"})
    for suffix, kinds in (
        ("_total", {"counter"}),
        ("_bucket", {"histogram"}),
        ("_count", {"histogram"}),
        ("_sum", {"histogram"}),
        ("", {"gauge"}),
    ):
        if not name.endswith(suffix):
            continue
        base = name[: len(name) - len(suffix)] if suffix else name
        try:
            declared = metric(base)
        except KeyError:
            continue
        if declared.type in kinds:
            extra = {"le"} if suffix == "_bucket" else set()
            return TARGET_LABELS | frozenset(declared.labels) | extra
    raise ValueError(f"series {name!r} is not in the signal catalogue (instrumentation.catalog)")


def series(name: str, *matchers: str) -> str:
    """A selector ``name{matchers}`` after checking the name and labels against the catalogue.

    >>> series("http_server_request_duration_seconds_count", 'http_response_status_code=~"5.."')
    'http_server_request_duration_seconds_count{http_response_status_code=~"5.."}'
    """
    allowed = _allowed_labels(name)
    parts = [m for m in matchers if m]
    for matcher in parts:
        match = _MATCHER.match(matcher)
        if match is None:
            raise ValueError(f"malformed label matcher {matcher!r} for {name}")
        if "*" not in allowed and match.group(1) not in allowed:
            raise ValueError(f"{name} has no label {match.group(1)!r}; it has {sorted(allowed)}")
    return f"{name}{{{', '.join(parts)}}}" if parts else name


def check_labels(name: str, labels: tuple[str, ...]) -> tuple[str, ...]:
    """Return ``labels`` after checking each one exists on ``name`` (for ``by (...)`` clauses)."""
    allowed = _allowed_labels(name)
    unknown = [label for label in labels if label not in allowed and "*" not in allowed]
    if unknown:
        raise ValueError(f"{name} has no label(s) {unknown}; it has {sorted(allowed)}")
    return labels


def sum_rate(name: str, window: str, by: tuple[str, ...], *matchers: str) -> str:
    """``sum by (by) (rate(name{matchers}[window]))`` with ``name`` and ``by`` checked."""
    check_labels(name, by)
    return f"sum by ({', '.join(by)}) (rate({series(name, *matchers)}[{window}]))"


def regex_alternatives(values: list[str] | tuple[str, ...]) -> str:
    """A RE2 alternation matching exactly ``values`` (escaped), for ``=~``/``!~`` matchers."""
    return "|".join(re.escape(v).replace("\\", "\\\\") for v in sorted(values))


def le_matcher(threshold: float) -> str:
    """Matcher for the bucket whose upper bound is ``threshold``.

    prometheus_client writes ``1.0`` where Prometheus 3 normalises to ``1``; match both.
    """
    text = repr(float(threshold))
    if text.endswith(".0"):
        return f'le=~"{text[:-2]}|{text[:-2]}\\\\.0"'
    return f'le="{text}"'


_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def format_duration(seconds: float) -> str:
    """Prometheus duration text for ``seconds``: ``3600`` -> ``1h``; below a second -> ``ms``."""
    millis = round(seconds * 1000)
    if millis <= 0:
        raise ValueError(f"duration must be positive, got {seconds!r}s")
    if millis % 1000:
        return f"{millis}ms"
    whole = millis // 1000
    for unit, size in _UNITS:
        if whole % size == 0:
            return f"{whole // size}{unit}"
    raise AssertionError("unreachable: every whole number of seconds has a unit")  # pragma: no cover


def parse_duration(text: str) -> int:
    """Seconds in a simple Prometheus duration such as ``30d``, ``6h``, ``5m``, ``90s``."""
    match = re.fullmatch(r"(\d+)([dhms])", text.strip())
    if match is None:
        raise ValueError(f"invalid duration {text!r}; use a number and one of d, h, m, s (e.g. 30d)")
    return int(match.group(1)) * dict(_UNITS)[match.group(2)]


@dataclass(frozen=True)
class Durations:
    """Writes windows and ``for:`` clauses, scaled by ``time_scale`` (1.0 = real time).

    A scale of ``1/60`` turns an hour into a minute: burn-rate windows, ``for:`` durations and
    offsets shrink together, so the rules keep their logic while an end-to-end test finishes in
    about a minute. Scaled windows never go below ``minimum`` seconds, which should cover at least
    two scrapes so ``rate()`` has something to work with.
    """

    time_scale: float = 1.0
    minimum: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.time_scale <= 1:
            raise ValueError(f"time_scale must be in (0, 1], got {self.time_scale!r}")

    def __call__(self, nominal: str) -> str:
        if self.time_scale == 1:
            return nominal
        return format_duration(max(self._scaled(nominal), self.minimum))

    def for_(self, nominal: str) -> str:
        """A ``for:`` clause; scaled ones may go down to one second."""
        if self.time_scale == 1:
            return nominal
        return format_duration(max(self._scaled(nominal), 1.0))

    def _scaled(self, nominal: str) -> float:
        # A scale typed as 0.0166667 should still turn 30d into 12h, not 43200086ms.
        seconds = parse_duration(nominal) * self.time_scale
        whole = round(seconds)
        return float(whole) if whole and abs(seconds - whole) <= seconds * 1e-4 else seconds
