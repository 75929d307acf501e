"""Rendering: an event (nested ECS dict) to one line of bytes, as JSON or for a console.

JSON goes through ``orjson`` (about ten times faster than the standard library's encoder and
strict about UTF-8). Anything orjson refuses (lone surrogates from undecodable input, integers
wider than 64 bits, unknown objects) takes a slow path that repairs the value instead of losing
the line, so the output is always exactly one valid JSON object per line.

The console format is for local development only: ``time level logger: message key=value``,
with control characters already escaped by the pipeline.

Both formats end with one last net: a character that reorders, hides or breaks text for a
reader (an invisible format character such as the bidi override U+202E, a C1 control, the
line and paragraph separators) still present in the line, in a field that did not go through
the pipeline's escaping, is written as the text ``\\u202e`` as Django writes them in its own
request log lines. Lines that are pure ASCII (almost all) are not scanned.
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson

from instrumentation.lifecycle import on_reset
from instrumentation.redaction import FORMAT_CHARACTERS

__all__ = ["format_timestamp", "render_console", "render_json", "reset"]

_JSON_OPTIONS = orjson.OPT_APPEND_NEWLINE
# (second, "YYYY-MM-DDTHH:MM:SS") of the last timestamp: one tuple, replaced atomically, so
# threads racing on it can only recompute, never pair a second with another second's text.
_last: tuple[int, str] = (-1, "")
_MILLISECONDS = tuple(f".{ms:03d}Z" for ms in range(1000))


def format_timestamp(epoch: float) -> str:
    """``1700000000.1234`` -> ``2023-11-14T22:13:20.123Z`` (UTC, milliseconds)."""
    global _last
    second = int(epoch)
    cached_second, prefix = _last
    if second != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last = (second, prefix)
    return prefix + _MILLISECONDS[int((epoch - second) * 1000)]


def _repair(value: Any) -> Any:
    """Make ``value`` encodable: replace surrogates, stringify what JSON cannot hold."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_repair(str(k)): _repair(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_repair(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    return _repair(str(value))


def _default(value: Any) -> str:
    return str(value)


# What orjson writes raw (it escapes only C0 controls, the quote and the backslash).
_INVISIBLE = re.compile(f"[\\x80-\\x9f\\u2028\\u2029{FORMAT_CHARACTERS}]")


def _escape(match: re.Match[str], backslash: str) -> str:
    code = ord(match.group())
    if code < 0x100:
        return f"{backslash}x{code:02x}"
    return f"{backslash}u{code:04x}" if code < 0x10000 else f"{backslash}U{code:08x}"


def _json_escape(match: re.Match[str]) -> str:
    return _escape(match, "\\\\")  # a backslash, escaped for JSON


def _text_escape(match: re.Match[str]) -> str:
    return _escape(match, "\\")


def _escape_invisible(data: bytes) -> bytes:
    """Escape invisible and line-breaking characters in a rendered JSON line (inside strings:
    orjson writes them nowhere else)."""
    if data.isascii():
        return data
    text = data.decode("utf-8")
    if _INVISIBLE.search(text) is None:
        return data
    return _INVISIBLE.sub(_json_escape, text).encode("utf-8")


def render_json(event: dict[str, Any]) -> bytes:
    """One JSON object followed by a newline."""
    try:
        data = orjson.dumps(event, default=_default, option=_JSON_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        data = orjson.dumps(_repair(event), option=_JSON_OPTIONS)
    return _escape_invisible(data)


def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out.append((prefix, value))


_CONSOLE_SKIP = frozenset(
    {
        "@timestamp",
        "log.level",
        "log.logger",
        "message",
        "ecs.version",
        "service.name",
        "service.version",
        "service.environment",
        "host.name",
        "process.pid",
        "error.stack_trace",
    }
)


def render_console(event: dict[str, Any]) -> bytes:
    """``12:00:00.123 info     app.views: message key=value`` plus a stack trace if any."""
    pairs: list[tuple[str, Any]] = []
    _flatten("", event, pairs)
    flat = dict(pairs)
    stamp = str(flat.get("@timestamp", ""))[11:23]
    head = f"{stamp} {flat.get('log.level', ''):<8} {flat.get('log.logger', '')}: {flat.get('message', '')}"
    extras = " ".join(f"{k}={v}" for k, v in pairs if k not in _CONSOLE_SKIP)
    line = f"{head}  {extras}" if extras else head
    stack = flat.get("error.stack_trace")
    if stack:
        line = f"{line}\n{stack}"
    if not line.isascii():
        line = _INVISIBLE.sub(_text_escape, line)
    return (line + "\n").encode("utf-8", "backslashreplace")


@on_reset
def reset() -> None:
    """Forget the cached timestamp prefix."""
    global _last
    _last = (-1, "")
