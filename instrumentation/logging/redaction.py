"""The redaction functions, under the name the logging documentation has always given them.

Redaction is shared by every signal (log fields, span exception events, database statements),
so it lives below them in :mod:`instrumentation.redaction`; this module re-exports its public
names.
"""

from __future__ import annotations

from instrumentation.redaction import (
    ALWAYS_REDACTED_HEADERS,
    REDACTED,
    TRUNCATED,
    Redactor,
    escape_control,
    get_redactor,
    is_sensitive_key,
    redact_headers,
    redact_mapping,
    redact_query,
    redact_text,
    reset,
    truncate,
)

__all__ = [
    "ALWAYS_REDACTED_HEADERS",
    "REDACTED",
    "TRUNCATED",
    "Redactor",
    "escape_control",
    "get_redactor",
    "is_sensitive_key",
    "redact_headers",
    "redact_mapping",
    "redact_query",
    "redact_text",
    "reset",
    "truncate",
]
