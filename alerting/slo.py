"""Service level objectives: the spec file, and the burn-rate math the alerts are built from.

An SLO spec is a small YAML file. Everything in it is optional: with no file at all, every scraped
service gets the fleet defaults (99.9% of requests succeed, 99% finish within 0.5 s, over 30 days)::

    window: 30d                      # 28d or 30d
    defaults:
      availability: 99.9             # percent of requests that do not answer 5xx
      latency: {objective: 99, threshold: 0.5}   # percent of requests faster than threshold seconds
      min_request_rate: 0.1          # req/s over the long window before an SLO alert may fire
      min_instances: 2               # healthy instances below this raise FleetobsTooFewInstances
      team: platform                 # who receives the alerts
    services:                        # per-service overrides; listed services are also "known"
      shop: {availability: 99.5, latency: {threshold: 1.0}, team: shop}
    teams:
      shop: {slack_channel: "#shop-alerts", email: shop-oncall@example.com, pagerduty: true}
    links: {grafana: "http://localhost:3000", runbooks: "https://.../docs/runbooks"}
    notifications: {secrets_dir: /etc/alertmanager/secrets, heartbeat_url: ..., webhook_url: ...}
    thresholds: {route_error_ratio: 0.05, ...}    # see Thresholds

Burn rate
---------
Burning at rate ``b`` exhausts a budget of ``1 - objective`` in ``period / b``. An alert that fires when
a share ``s`` of the whole period's budget has been spent within a window ``w`` needs a burn rate of
``s * period / w`` (the Google SRE workbook's multi-window, multi-burn-rate alerts)::

    severity  long/short  budget spent   factor at 30d  factor at 28d   for
    critical  1h / 5m     2%             14.4           13.44           2m
    critical  6h / 30m    5%             6              5.6             15m
    warning   1d / 2h     10%            3              2.8             1h
    warning   3d / 6h     10%            1              0.93            3h

Both windows must show an error ratio above ``factor * (1 - objective)``: the long one proves the
budget is really burning, the short one that it still is (so the alert resolves soon after a fix).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from alerting.promql import parse_duration
from instrumentation.catalog import metric

ALLOWED_WINDOWS = ("28d", "30d")


@dataclass(frozen=True)
class BurnRateWindow:
    """One long/short window pair of the multi-window, multi-burn-rate alerts."""

    long: str
    short: str
    #: Share of the whole period's error budget spent within ``long`` when the alert fires.
    budget_share: float
    severity: str
    for_: str

    def factor(self, period: str) -> float:
        """Burn rate that spends :attr:`budget_share` of a ``period`` budget within ``long``."""
        return burn_rate_factor(self.budget_share, period, self.long)


BURN_RATE_WINDOWS: tuple[BurnRateWindow, ...] = (
    BurnRateWindow("1h", "5m", 0.02, "critical", "2m"),
    BurnRateWindow("6h", "30m", 0.05, "critical", "15m"),
    BurnRateWindow("1d", "2h", 0.10, "warning", "1h"),
    BurnRateWindow("3d", "6h", 0.10, "warning", "3h"),
)
#: Every window a ratio is recorded over (the union of the pairs above).
RATE_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def burn_rate_factor(budget_share: float, period: str, window: str) -> float:
    """Burn rate at which ``budget_share`` of a ``period`` budget is spent within ``window``."""
    if not 0 < budget_share <= 1:
        raise ValueError(f"budget_share must be in (0, 1], got {budget_share!r}")
    return round(budget_share * parse_duration(period) / parse_duration(window), 4)


def error_ratio_threshold(factor: float, objective: float) -> float:
    """Error ratio a window must exceed to be burning ``factor`` times too fast."""
    return round(factor * (1 - objective), 10)


def time_to_exhaustion_seconds(burn_rate: float, period: str) -> float:
    """How long a full budget lasts at ``burn_rate`` (infinite when nothing burns)."""
    return float("inf") if burn_rate <= 0 else parse_duration(period) / burn_rate


def budget_remaining(error_ratio: float, objective: float) -> float:
    """Share of the error budget left after a period with ``error_ratio`` (negative when overspent)."""
    return 1 - error_ratio / (1 - objective)


def _percent(value: Any, what: str) -> float:
    """Objective given in percent (``99.9``) as a ratio (``0.999``)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a percentage like 99.9, got {value!r}") from None
    if not 50 <= number < 100:
        raise ValueError(f"{what} must be a percentage in [50, 100), got {value!r}")
    return round(number / 100, 10)


@dataclass(frozen=True)
class ServiceSLO:
    """The objectives and alerting knobs of one service (or, named ``*``, the fleet default)."""

    name: str
    availability: float = 0.999
    latency_objective: float = 0.99
    latency_threshold: float = 0.5
    window: str = "30d"
    min_request_rate: float = 0.1
    min_instances: int = 2
    team: str = "platform"

    def __post_init__(self) -> None:
        if self.window not in ALLOWED_WINDOWS:
            raise ValueError(
                f"SLO window of {self.name!r} must be one of {ALLOWED_WINDOWS}, got {self.window!r}"
            )
        buckets = metric("http_server_request_duration_seconds").buckets
        if self.latency_threshold not in buckets:
            raise ValueError(
                f"latency threshold of {self.name!r} must be a histogram bucket boundary "
                f"{buckets}, got {self.latency_threshold!r}"
            )
        for objective, what in ((self.availability, "availability"), (self.latency_objective, "latency")):
            fastest = max(w.factor(self.window) for w in BURN_RATE_WINDOWS)
            if error_ratio_threshold(fastest, objective) >= 1:
                raise ValueError(
                    f"{what} objective {objective:.4%} of {self.name!r} is too low for burn-rate alerts: "
                    f"{fastest}x its budget would exceed 100% errors"
                )
        if self.min_request_rate < 0 or self.min_instances < 0:
            raise ValueError(f"min_request_rate and min_instances of {self.name!r} must not be negative")

    def objective(self, sli: str) -> float:
        """Objective of ``sli`` (``availability`` or ``latency``) as a ratio."""
        return self.availability if sli == "availability" else self.latency_objective


@dataclass(frozen=True)
class Team:
    """Where a team's alerts go. Secrets (webhook URLs, keys) are files, never values here."""

    name: str
    slack_channel: str = ""
    email: str = ""
    pagerduty: bool = True

    def channel(self) -> str:
        return self.slack_channel or f"#{self.name}-alerts"


@dataclass(frozen=True)
class Links:
    """Base URLs the alerts link to: Grafana for ``dashboard_url``, the runbooks for ``runbook_url``."""

    grafana: str = "http://localhost:3000"
    runbooks: str = (
        "https://github.com/fleet-observability/django-fleet-observability/blob/main/docs/runbooks"
    )


@dataclass(frozen=True)
class Notifications:
    """Alertmanager receiver settings. Secrets are read by Alertmanager from ``secrets_dir``."""

    secrets_dir: str = "/etc/alertmanager/secrets"
    smtp_smarthost: str = "smtp.example.com:587"
    smtp_from: str = "alertmanager@example.com"
    smtp_auth_username: str = "alertmanager"
    #: Dead man's switch that receives the always-firing Watchdog (e.g. a healthchecks ping URL).
    heartbeat_url: str = "http://127.0.0.1:9095/heartbeat"
    #: When set, every receiver also posts to this webhook (a ticket system, a demo sink).
    webhook_url: str = ""


@dataclass(frozen=True)
class Thresholds:
    """Thresholds of the non-SLO alerts. Ratios are 0..1."""

    route_error_ratio: float = 0.05
    route_min_request_rate: float = 0.05
    route_p99_regression_factor: float = 2.0
    route_p99_floor_seconds: float = 0.25
    excluded_routes: tuple[str, ...] = ("metrics", "healthz", "readyz")
    cpu_ratio: float = 0.9
    memory_ratio: float = 0.9
    fds_warning_ratio: float = 0.8
    fds_critical_ratio: float = 0.9
    worker_busy_ratio: float = 0.85
    websocket_connections_ratio: float = 0.8
    n_plus_one_ratio: float = 0.01
    task_failure_ratio: float = 0.1
    task_min_rate: float = 0.01
    task_queue_wait_seconds: float = 60.0
    telemetry_drop_ratio: float = 0.01


@dataclass(frozen=True)
class Spec:
    """A whole SLO spec: the default, the per-service overrides and the routing details."""

    default: ServiceSLO = field(default_factory=lambda: ServiceSLO("*"))
    services: tuple[ServiceSLO, ...] = ()
    teams: tuple[Team, ...] = ()
    links: Links = field(default_factory=Links)
    notifications: Notifications = field(default_factory=Notifications)
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def known_services(self) -> tuple[str, ...]:
        """Services named in the spec: alerted on when they have no targets at all."""
        return tuple(s.name for s in self.services)

    def all_teams(self) -> tuple[Team, ...]:
        """Declared teams plus any team a service names without declaring, default team first."""
        declared = {t.name: t for t in self.teams}
        names = [self.default.team, *sorted({s.team for s in self.services} | set(declared))]
        ordered = list(dict.fromkeys(names))
        return tuple(declared.get(n, Team(n)) for n in ordered)

    def services_of(self, team: str) -> tuple[str, ...]:
        return tuple(s.name for s in self.services if s.team == team)


_SERVICE_KEYS = {"availability", "latency", "window", "min_request_rate", "min_instances", "team"}


def _service(name: str, raw: Mapping[str, Any], base: ServiceSLO) -> ServiceSLO:
    if not isinstance(raw, Mapping):
        raise TypeError(f"SLO entry for {name!r} must be a mapping, got {raw!r}")
    unknown = set(raw) - _SERVICE_KEYS
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} for {name!r}; allowed: {sorted(_SERVICE_KEYS)}")
    changes: dict[str, Any] = {"name": name}
    if "availability" in raw:
        changes["availability"] = _percent(raw["availability"], f"availability of {name!r}")
    latency = raw.get("latency") or {}
    if not isinstance(latency, Mapping) or set(latency) - {"objective", "threshold"}:
        raise ValueError(f"latency of {name!r} must be a mapping with objective and/or threshold")
    if "objective" in latency:
        changes["latency_objective"] = _percent(latency["objective"], f"latency objective of {name!r}")
    if "threshold" in latency:
        changes["latency_threshold"] = float(latency["threshold"])
    for key, kind in (("window", str), ("min_request_rate", float), ("min_instances", int), ("team", str)):
        if key in raw:
            changes[key] = kind(raw[key])
    return replace(base, **changes)


def _simple(cls: type, raw: Any, what: str, **extra: Any) -> Any:
    if raw is None:
        return cls(**extra)
    if not isinstance(raw, Mapping):
        raise TypeError(f"{what} must be a mapping, got {raw!r}")
    allowed = {f.name for f in fields(cls)} - set(extra)
    unknown = set(raw) - allowed
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} in {what}; allowed: {sorted(allowed)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    return cls(**values, **extra)


def parse_spec(raw: Mapping[str, Any] | None) -> Spec:
    """Build a :class:`Spec` from parsed YAML, validating every value."""
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise TypeError(f"an SLO spec must be a mapping, got {raw!r}")
    allowed = {"window", "defaults", "services", "teams", "links", "notifications", "thresholds"}
    unknown = set(raw) - allowed
    if unknown:
        raise ValueError(
            f"unknown top-level key(s) {sorted(unknown)} in SLO spec; allowed: {sorted(allowed)}"
        )
    base = ServiceSLO("*", window=str(raw.get("window", "30d")))
    default = _service("*", raw.get("defaults") or {}, base)
    services = tuple(
        _service(str(name), entry or {}, default)
        for name, entry in sorted((raw.get("services") or {}).items())
    )
    teams = tuple(
        _simple(Team, entry, f"team {name!r}", name=str(name))
        for name, entry in sorted((raw.get("teams") or {}).items())
    )
    return Spec(
        default=default,
        services=services,
        teams=teams,
        links=_simple(Links, raw.get("links"), "links"),
        notifications=_simple(Notifications, raw.get("notifications"), "notifications"),
        thresholds=_simple(Thresholds, raw.get("thresholds"), "thresholds"),
    )


def load_spec(path: Path | None) -> Spec:
    """Read a spec file; ``None`` gives the fleet defaults."""
    if path is None:
        return Spec()
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return parse_spec(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
