"""The effective configuration: each ``FLEET_OBSERVABILITY`` key, its value and where it came from.

The values are those :func:`instrumentation.conf.get_settings` resolved; the source of each is
``FLEET_OBSERVABILITY`` (the Django settings), the environment variable it was read from, or
``default`` (see :func:`instrumentation.conf.sources`). A value that failed validation is
reported with its problem (``manage.py fleetobs check`` explains it).

Secrets never reach the output: a key named like a credential (``METRICS_BEARER_TOKEN``,
``ELASTICSEARCH_API_KEY``: the log pipeline's own :func:`~instrumentation.logging.redaction.is_sensitive_key`)
is masked whole, the header lists (``OTLP_HEADERS``, ``TRACE_TRUSTED_HEADERS``) keep their
header names only, and every other text goes through
:func:`~instrumentation.logging.redaction.redact_text` (``user:password@`` in URLs, bearer
tokens, known token shapes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from instrumentation import conf
from instrumentation.logging.redaction import REDACTED, is_sensitive_key, redact_text

__all__ = ["Entry", "entries", "render_json", "render_text"]

#: Keys whose values are ``name=value`` lists where every value may be a credential.
HEADER_LISTS = frozenset({"OTLP_HEADERS", "TRACE_TRUSTED_HEADERS"})


@dataclass(frozen=True)
class Entry:
    key: str
    #: The effective value, masked; tuples become lists (JSON).
    value: Any
    source: str
    problem: str | None = None


def entries() -> list[Entry]:
    """Every known key, sorted, as the running service sees it."""
    settings = conf.get_settings()
    sources = conf.sources()
    problems = dict(conf.problems())
    return [
        Entry(key, mask(key, getattr(settings, key.lower())), sources[key], problems.get(key))
        for key in sorted(conf.KNOWN_KEYS)
    ]


def general_problems() -> list[str]:
    """Problems not tied to a key (``FLEET_OBSERVABILITY`` is not a dict)."""
    return [message for key, message in conf.problems() if not key]


def mask(key: str, value: Any) -> Any:
    """``value`` fit to print."""
    if value is None or value in ("", ()):
        return list(value) if isinstance(value, tuple) else value
    if is_sensitive_key(key):
        return REDACTED
    if key in HEADER_LISTS:
        items = value.split(",") if isinstance(value, str) else list(value)
        masked = [f"{item.partition('=')[0].strip()}={REDACTED}" for item in items if item.strip()]
        return ",".join(masked) if isinstance(value, str) else masked
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, tuple):
        return [redact_text(item) if isinstance(item, str) else item for item in value]
    return value


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) if value else "(none)"
    if isinstance(value, str) and value != REDACTED:
        return repr(value)
    return str(value)


def render_text(items: list[Entry]) -> str:
    """Aligned columns: key, source, value (and a problem after it)."""
    key_width = max(len(item.key) for item in items)
    source_width = max(len(item.source) for item in items)
    lines = [f"{'KEY':<{key_width}}  {'SOURCE':<{source_width}}  VALUE"]
    for item in items:
        line = f"{item.key:<{key_width}}  {item.source:<{source_width}}  {_shown(item.value)}"
        if item.problem:
            line += f"  (invalid: {item.problem}; see `manage.py fleetobs check`)"
        lines.append(line)
    lines.extend(f"problem: {message}" for message in general_problems())
    return "\n".join(lines) + "\n"


def render_json(items: list[Entry]) -> str:
    """``{"settings": {KEY: {"value", "source"[, "problem"]}}, "problems": [...]}``."""
    document: dict[str, Any] = {"settings": {}, "problems": general_problems()}
    for item in items:
        entry: dict[str, Any] = {"value": item.value, "source": item.source}
        if item.problem:
            entry["problem"] = item.problem
        document["settings"][item.key] = entry
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
