"""Settings: ``FLEET_OBSERVABILITY`` merged over defaults and the standard environment variables.

Nothing is read at import time. :func:`get_settings` builds one immutable :class:`Settings` the
first time it is called and caches it, with where each value came from (:func:`sources`);
Django's ``setting_changed`` signal (``override_settings`` in tests) and :func:`reset` drop the
cache. Precedence for each knob: the ``FLEET_OBSERVABILITY`` dict, then the environment variable
(OpenTelemetry's ``OTEL_*`` where one exists, otherwise ``FLEETOBS_*``), then the default.
Validation errors surface as system checks (see :mod:`instrumentation.checks`) rather than as
exceptions at import.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any
from urllib.parse import unquote

from instrumentation.lifecycle import on_reset

SETTING_NAME = "FLEET_OBSERVABILITY"

# Keys of FLEET_OBSERVABILITY, with the environment variable each one falls back to.
ENV_FALLBACKS: dict[str, str] = {
    "SERVICE_NAME": "OTEL_SERVICE_NAME",
    "SERVICE_VERSION": "FLEETOBS_SERVICE_VERSION",
    "ENVIRONMENT": "FLEETOBS_ENVIRONMENT",
    "METRICS_ENABLED": "FLEETOBS_METRICS_ENABLED",
    "METRICS_BEARER_TOKEN": "FLEETOBS_METRICS_TOKEN",
    "METRICS_TRUST_PROXY": "FLEETOBS_METRICS_TRUST_PROXY",
    "METRICS_PORT": "FLEETOBS_METRICS_PORT",
    "TRACING_ENABLED": "FLEETOBS_TRACING_ENABLED",
    "OTLP_ENDPOINT": "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTLP_PROTOCOL": "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTLP_HEADERS": "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "TRACES_SAMPLER": "OTEL_TRACES_SAMPLER",
    "TRACES_SAMPLER_ARG": "OTEL_TRACES_SAMPLER_ARG",
    "TRACE_PARENT_TRUST": "FLEETOBS_TRACE_PARENT_TRUST",
    "TRACE_TRUSTED_NETWORKS": "FLEETOBS_TRACE_TRUSTED_NETWORKS",
    "TRACE_TRUSTED_HEADERS": "FLEETOBS_TRACE_TRUSTED_HEADERS",
    "LOG_FORMAT": "FLEETOBS_LOG_FORMAT",
    "LOG_LEVEL": "FLEETOBS_LOG_LEVEL",
    "ELASTICSEARCH_URL": "FLEETOBS_ELASTICSEARCH_URL",
    "ELASTICSEARCH_API_KEY": "FLEETOBS_ELASTICSEARCH_API_KEY",
}
# Further OpenTelemetry variables per key, tried in order; milliseconds become seconds.
_OTEL_MORE: dict[str, tuple[tuple[str, float | None], ...]] = {
    "SPAN_EXPORT_TIMEOUT": (
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", 1000.0),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", 1000.0),
        ("OTEL_BSP_EXPORT_TIMEOUT", 1000.0),
    ),
    "SPAN_SCHEDULE_DELAY": (("OTEL_BSP_SCHEDULE_DELAY", 1000.0),),
    "SPAN_QUEUE_SIZE": (("OTEL_BSP_MAX_QUEUE_SIZE", None),),
    "SPAN_BATCH_SIZE": (("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", None),),
    "TRACES_EXPORTER": (("OTEL_TRACES_EXPORTER", None),),
}
# Generic OTLP variables consulted when the traces-specific one is unset.
_OTLP_GENERIC = {
    "OTLP_ENDPOINT": "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTLP_PROTOCOL": "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTLP_HEADERS": "OTEL_EXPORTER_OTLP_HEADERS",
}

DEFAULT_REDACT_KEYS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "access_key",
    "private_key",
    "authorization",
    "auth",
    "cookie",
    "session",
    "sessionid",
    "csrf",
    "csrftoken",
    "signature",
    "credential",
    "jwt",
    "bearer",
    "passphrase",
    "privatekey",
    "phpsessid",
    "connect.sid",
    "sig",
    "cvv",
    "cvc",
    "card_number",
)
DEFAULT_ALLOWED_NETWORKS = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)

#: OpenTelemetry's standard sampler names (``OTEL_TRACES_SAMPLER``); what each does is
#: :data:`instrumentation.tracing.sampling.KNOWN`.
SAMPLERS = frozenset(
    {
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    }
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Field names are the ``FLEET_OBSERVABILITY`` keys in lower case."""

    service_name: str = "django"
    service_version: str = "unknown"
    environment: str = "production"
    # Metrics.
    metrics_enabled: bool = True
    metrics_excluded_routes: tuple[str, ...] = ("metrics", "healthz", "readyz")
    metrics_allowed_networks: tuple[str, ...] = DEFAULT_ALLOWED_NETWORKS
    metrics_bearer_token: str | None = None
    metrics_trust_proxy: bool = False
    metrics_port: int | None = None
    exemplars_enabled: bool = True
    n_plus_one_threshold: int = 5
    route_namer: str | None = None
    route_name_limit: int = 100
    # Tracing.
    tracing_enabled: bool = True
    otlp_endpoint: str | None = None
    otlp_protocol: str = "http/protobuf"
    otlp_headers: str | None = None
    traces_sampler: str = "parentbased_traceidratio"
    traces_sampler_arg: float = 1.0
    trace_id_response_header: str = "X-Trace-Id"
    trace_db: bool = True
    trace_cache: bool = True
    trace_templates: bool = False
    span_queue_size: int = 2048
    span_batch_size: int = 512
    span_export_timeout: float = 10.0
    span_schedule_delay: float = 1.0
    traces_exporter: str = "otlp"
    trace_parent_trust: str = "all"
    trace_trusted_networks: tuple[str, ...] = ()
    trace_trusted_headers: tuple[str, ...] = ()
    # Logging.
    logging_configure: bool = True
    log_format: str = "json"
    log_level: str = "INFO"
    access_log: bool = True
    access_log_sample_rate: float = 1.0
    log_flush_interval: float = 0.1
    request_id_header: str = "X-Request-ID"
    redact_keys: tuple[str, ...] = DEFAULT_REDACT_KEYS
    sensitive_url_kwargs: tuple[str, ...] = ()
    pii_masking: bool = False
    max_value_length: int = 2048
    elasticsearch_url: str | None = None
    elasticsearch_api_key: str | None = None
    elasticsearch_index: str = "logs-fleetobs-default"
    elasticsearch_queue_size: int = 10_000
    elasticsearch_queue_bytes: int = 16 * 1024 * 1024
    elasticsearch_batch_size: int = 500
    elasticsearch_flush_interval: float = 1.0
    # Derived, not settable: resolved once per process.
    host_name: str = field(default_factory=socket.gethostname)

    @cached_property
    def metrics_excluded(self) -> frozenset[str]:
        """``METRICS_EXCLUDED_ROUTES`` as a set (read twice per request: computed once)."""
        return frozenset(self.metrics_excluded_routes)


#: The keys a user may set in FLEET_OBSERVABILITY.
KNOWN_KEYS: frozenset[str] = frozenset(f.name.upper() for f in fields(Settings) if f.name != "host_name")

_cached: Settings | None = None
#: Problems found while resolving, reported by the system checks: (key, message).
_problems: list[tuple[str, str]] = []
#: Where each key's value came from, recorded by the same build as :data:`_cached`.
_sources: dict[str, str] = {}


def _coerce(name: str, raw: Any, default: Any) -> Any:
    """Turn ``raw`` (from the dict or the environment) into the type of ``default``."""
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"{name} must be a boolean, got {raw!r}")
    if isinstance(default, int) or (default is None and name in {"metrics_port"}):
        if isinstance(raw, bool):
            raise ValueError(f"{name} must be an integer, got {raw!r}")
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, tuple):
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return tuple(raw)
    return None if raw is None else str(raw)


def _from_environment(key: str) -> tuple[str | None, str | None]:
    """The environment's value for ``key`` and the variable it came from (``(None, None)``: unset)."""
    env = ENV_FALLBACKS.get(key)
    value = os.environ.get(env) if env else None
    if value is not None:
        return value, env
    if key in _OTLP_GENERIC:
        generic = _OTLP_GENERIC[key]
        value = os.environ.get(generic)
        if value is not None:
            if key == "OTLP_ENDPOINT":
                # The generic endpoint is a base URL; the traces path is appended (OTel spec).
                value = value.rstrip("/") + "/v1/traces"
            return value, generic
    for name, scale in _OTEL_MORE.get(key, ()):
        found = os.environ.get(name, "").strip()
        if found:
            try:
                return (str(float(found) / scale) if scale else found), name
            except ValueError:
                return f"{found} (from {name})", name  # reported by the checks as invalid
    return None, None


def _resource_attributes() -> dict[str, str]:
    pairs = os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    result: dict[str, str] = {}
    for item in pairs.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            result[key.strip()] = unquote(value.strip())  # values are percent-encoded (OTel spec)
    return result


def _raw(key: str, user: dict[str, Any], resource: dict[str, str]) -> tuple[Any, str]:
    """The unconverted value of ``key`` and where it came from: :data:`SETTING_NAME`, an
    environment variable's name, or ``"default"`` (the value is then ``None``)."""
    if key in user:
        return user[key], SETTING_NAME
    raw, variable = _from_environment(key)
    if raw is not None and variable is not None:
        return raw, variable
    attribute = {"SERVICE_NAME": "service.name", "SERVICE_VERSION": "service.version"}.get(key)
    if key == "ENVIRONMENT":  # the current name first, then the deprecated one
        attribute = "deployment.environment.name"
        if not resource.get(attribute):
            attribute = "deployment.environment"
    if attribute is not None and resource.get(attribute) is not None:
        return resource[attribute], f"OTEL_RESOURCE_ATTRIBUTES ({attribute})"
    if key == "TRACING_ENABLED" and os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False, "OTEL_SDK_DISABLED"
    return None, "default"


def _build(user: dict[str, Any]) -> tuple[Settings, list[tuple[str, str]], dict[str, str]]:
    """The settings, their problems and the source of each key (see :func:`sources`)."""
    problems: list[tuple[str, str]] = []
    sources: dict[str, str] = {}
    defaults = Settings()
    values: dict[str, Any] = {}
    resource = _resource_attributes()
    for f in fields(Settings):
        if f.name == "host_name":
            continue
        key = f.name.upper()
        raw, source = _raw(key, user, resource)
        sources[key] = source
        if source == "default":
            continue
        try:
            values[f.name] = _coerce(f.name, raw, getattr(defaults, f.name))
        except (TypeError, ValueError) as exc:
            problems.append((key, str(exc)))
    settings = Settings(**values)
    problems.extend(_validate(settings))
    return settings, problems, {key: sources[key] for key in sorted(sources)}


def _validate(s: Settings) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if s.otlp_protocol not in {"http/protobuf", "grpc"}:
        problems.append(("OTLP_PROTOCOL", f"must be 'http/protobuf' or 'grpc', got {s.otlp_protocol!r}"))
    if s.traces_sampler.strip().lower() not in SAMPLERS:
        problems.append(("TRACES_SAMPLER", f"must be one of {sorted(SAMPLERS)}, got {s.traces_sampler!r}"))
    exporters = {part.strip().lower() for part in s.traces_exporter.split(",")}
    if not exporters <= {"otlp", "console", "none"}:
        problems.append(
            ("TRACES_EXPORTER", f"must be otlp, console, none or a list of them, got {s.traces_exporter!r}")
        )
    if s.trace_parent_trust not in {"all", "trusted"}:
        problems.append(("TRACE_PARENT_TRUST", f"must be 'all' or 'trusted', got {s.trace_parent_trust!r}"))
    problems.extend(
        ("TRACE_TRUSTED_NETWORKS", f"not a network: {net!r}")
        for net in s.trace_trusted_networks
        if not _is_network(net)
    )
    problems.extend(
        ("TRACE_TRUSTED_HEADERS", f"must be 'Header-Name=value', got {item.partition('=')[0]!r}=...")
        for item in s.trace_trusted_headers
        if not item.partition("=")[0].strip() or not item.partition("=")[2].strip()
    )
    if s.log_format not in {"json", "console"}:
        problems.append(("LOG_FORMAT", f"must be 'json' or 'console', got {s.log_format!r}"))
    if s.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        problems.append(("LOG_LEVEL", f"must be a logging level name, got {s.log_level!r}"))
    for name in ("traces_sampler_arg", "access_log_sample_rate"):
        value = getattr(s, name)
        if not 0.0 <= value <= 1.0:
            problems.append((name.upper(), f"must be between 0 and 1, got {value!r}"))
    positive = (
        "n_plus_one_threshold",
        "route_name_limit",
        "span_queue_size",
        "span_batch_size",
        "max_value_length",
        "elasticsearch_queue_size",
        "elasticsearch_queue_bytes",
        "elasticsearch_batch_size",
    )
    problems.extend(
        (name.upper(), f"must be at least 1, got {getattr(s, name)!r}")
        for name in positive
        if getattr(s, name) < 1
    )
    if not 0.0 <= s.log_flush_interval <= 10.0:
        problems.append(
            ("LOG_FLUSH_INTERVAL", f"must be between 0 and 10 seconds, got {s.log_flush_interval!r}")
        )
    if s.metrics_port is not None and not 0 < s.metrics_port < 65536:
        problems.append(("METRICS_PORT", f"must be a TCP port, got {s.metrics_port!r}"))
    problems.extend(
        ("METRICS_ALLOWED_NETWORKS", f"not a network: {net!r}")
        for net in s.metrics_allowed_networks
        if not _is_network(net)
    )
    return problems


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def settings_from_environment() -> Settings:
    """Settings from the environment and defaults alone, for processes without Django settings
    (a gunicorn master before any worker loaded the project). Not cached."""
    return _build({})[0]


def get_settings() -> Settings:
    """Return the resolved settings, building them on first use."""
    global _cached, _sources
    if _cached is None:
        from django.conf import settings as django_settings

        user = getattr(django_settings, SETTING_NAME, None) or {}
        shape: list[tuple[str, str]] = []
        if not isinstance(user, dict):
            shape = [("", f"{SETTING_NAME} must be a dict, got {type(user).__name__}")]
            user = {}
        resolved, problems, sources = _build(user)
        _problems[:] = shape + problems
        _sources = sources
        _cached = resolved
    return _cached


def user_keys() -> set[str]:
    """The keys the user set in ``FLEET_OBSERVABILITY`` (for the unknown-key check)."""
    from django.conf import settings as django_settings

    user = getattr(django_settings, SETTING_NAME, None) or {}
    return set(user) if isinstance(user, dict) else set()


def sources() -> dict[str, str]:
    """Where each key's effective value comes from: ``FLEET_OBSERVABILITY``, the name of an
    environment variable, or ``default``; sorted by key, recorded when :func:`get_settings`
    resolved the settings."""
    get_settings()
    return dict(_sources)


def problems() -> list[tuple[str, str]]:
    """Validation problems of the current settings, as ``(key, message)`` pairs."""
    get_settings()
    return list(_problems)


@on_reset
def reset() -> None:
    """Forget the resolved settings; the next :func:`get_settings` reads them again."""
    global _cached, _sources
    _cached = None
    _problems.clear()
    _sources = {}


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        reset()


def connect_signals() -> None:
    from django.core.signals import setting_changed

    setting_changed.connect(_on_setting_changed, dispatch_uid="fleetobs-settings")
