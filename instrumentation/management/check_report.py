"""This app's system checks, run alone and explained.

``manage.py check`` runs every app's checks and prints their hints; ``manage.py fleetobs check``
runs only those of :mod:`instrumentation.checks` (``--deploy`` adds the deployment ones, as
``check --deploy`` does), skips the ids in ``SILENCED_SYSTEM_CHECKS``, and prints each finding
with its fix (the check's hint) and the page of the documentation that explains it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from django.core.checks import CheckMessage
from django.core.checks.registry import registry

from instrumentation import checks

__all__ = ["Finding", "findings", "render_json", "render_text"]

#: The page (and anchor) that explains each id; the others are in the configuration reference.
_PAGES = {
    "fleetobs.E004": "security.md#who-may-read-metrics",
    "fleetobs.W003": "security.md#who-may-read-metrics",
    "fleetobs.I001": "adopting.md#opentelemetry-zero-code",
}
_DEFAULT_PAGE = "configuration.md#system-checks"
_LEVELS = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}


@dataclass(frozen=True)
class Finding:
    id: str
    level: str
    message: str
    fix: str | None
    docs: str
    is_error: bool


def _docs_base() -> str:
    """The documentation's address from the installed package's metadata, else the repository path."""
    try:
        urls = metadata.metadata("django-fleet-observability").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip() == "Documentation" and url.strip():
            return f"{url.strip().rstrip('/')}/"
    return "docs/"


def findings(*, deploy: bool = False) -> list[Finding]:
    """Run this app's checks; each message that is not silenced becomes a finding."""
    messages: list[CheckMessage] = []
    for check in registry.get_checks(include_deployment_checks=deploy):
        if getattr(check, "__module__", None) == checks.__name__:
            messages.extend(check(app_configs=None, databases=None))
    base = _docs_base()
    return [
        Finding(
            id=message.id or "",
            level=_LEVELS.get(message.level, str(message.level)),
            message=str(message.msg),
            fix=message.hint,
            docs=base + _PAGES.get(message.id or "", _DEFAULT_PAGE),
            is_error=message.is_serious(),
        )
        for message in sorted(messages, key=lambda m: (-m.level, m.id or ""))
        if not message.is_silenced()
    ]


def summary(found: list[Finding]) -> str:
    errors = sum(f.is_error for f in found)
    return f"{errors} error(s), {len(found) - errors} other finding(s)"


def render_text(found: list[Finding]) -> str:
    if not found:
        return "fleetobs: no findings\n"
    blocks = []
    for finding in found:
        lines = [f"{finding.id} ({finding.level}): {finding.message}"]
        if finding.fix:
            lines.append(f"    fix:  {finding.fix}")
        lines.append(f"    docs: {finding.docs}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + f"\n\n{summary(found)}\n"


def render_json(found: list[Finding]) -> str:
    document: list[dict[str, Any]] = [
        {"id": f.id, "level": f.level, "message": f.message, "fix": f.fix, "docs": f.docs} for f in found
    ]
    return json.dumps(document, indent=2) + "\n"
