"""Findings, the report that groups them, and the exit code it implies.

A check returns :class:`Finding` objects; :class:`Report` collects them with the list of checks
that ran and the backends that could not be reached, and renders both forms the command prints::

    Severity   error    the dashboards or alerts will not show what they promise
               warning  they will, but partly or misleadingly
               info     worth knowing (a feature not in use, no traffic yet); never fails the run

    Exit code  0  healthy: no error or warning
               1  at least one error or warning
               2  a backend could not be checked (unreachable, not what it claims to be)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

EXIT_HEALTHY = 0
EXIT_FINDINGS = 1
EXIT_CANNOT_CHECK = 2


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Finding:
    """One thing found: which check, how bad, about what, and what to do about it."""

    check: str
    severity: Severity
    #: What the finding is about (``job shop``, ``Service / Error ratio``), so reports sort well.
    subject: str
    message: str
    fix: str = ""
    #: A configuration snippet (YAML) to paste, shown indented under the finding.
    snippet: str = ""
    #: Evidence (the query that came back empty...): in the JSON, and in the text for errors and warnings.
    detail: str = ""

    def line(self) -> str:
        text = f"[{self.check}] {self.subject}: {self.message}"
        return f"{text} Fix: {self.fix}" if self.fix else text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data


@dataclass
class Report:
    """Everything one run found."""

    findings: list[Finding] = field(default_factory=list)
    #: Names of the checks that ran to completion, in order.
    checks: list[str] = field(default_factory=list)
    #: Backend -> why it could not be checked.
    unreachable: dict[str, str] = field(default_factory=dict)
    #: Facts shown in the header (Prometheus URL, jobs, range, queries run...).
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)

    def by_severity(self, severity: Severity) -> list[Finding]:
        return sorted(
            (f for f in self.findings if f.severity is severity),
            key=lambda f: (f.check, f.subject, f.message),
        )

    @property
    def exit_code(self) -> int:
        if self.unreachable:
            return EXIT_CANNOT_CHECK
        if any(f.severity is not Severity.INFO for f in self.findings):
            return EXIT_FINDINGS
        return EXIT_HEALTHY

    def verdict(self) -> str:
        errors = len(self.by_severity(Severity.ERROR))
        warnings = len(self.by_severity(Severity.WARNING))
        if self.unreachable:
            return f"CANNOT CHECK: {', '.join(sorted(self.unreachable))} unreachable"
        if errors or warnings:
            return f"FINDINGS: {_count(errors, 'error')}, {_count(warnings, 'warning')}"
        return "HEALTHY"

    def text(self) -> str:
        lines = ["fleetobs doctor"]
        lines.extend(f"  {key}: {value}" for key, value in self.facts.items())
        for backend, reason in sorted(self.unreachable.items()):
            lines.append("")
            lines.append(f"CANNOT CHECK {backend}: {reason}")
        for severity in Severity:
            found = self.by_severity(severity)
            if not found:
                continue
            lines.append("")
            lines.append(f"{severity.value.upper()} ({len(found)})")
            for finding in found:
                lines.append(f"  {finding.line()}")
                if finding.detail and severity is not Severity.INFO:
                    lines.append(f"      {finding.detail}")
                lines.extend(f"      {row}" for row in finding.snippet.rstrip().splitlines())
        lines.append("")
        lines.append(f"checked: {', '.join(self.checks) or 'nothing'}")
        lines.append(f"verdict: {self.verdict()} (exit {self.exit_code})")
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        data = {
            "verdict": self.verdict(),
            "exit_code": self.exit_code,
            "facts": self.facts,
            "checks": self.checks,
            "unreachable": self.unreachable,
            "findings": [f.to_dict() for s in Severity for f in self.by_severity(s)],
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
