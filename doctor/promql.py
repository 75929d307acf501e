"""Find the vector selectors of a PromQL expression, for explaining why a query returns nothing.

This is not a PromQL parser (Prometheus parses and evaluates; a query it rejects is reported with
its own message). It tokenizes an expression whose template variables are already expanded and
returns every vector selector with its label matchers and ``offset``, skipping function names,
grouping label lists (``by (...)``, ``on (...)``...), strings, numbers and durations. Each
selector can then be asked of Prometheus on its own, and without one matcher at a time, which is
how :mod:`doctor.explain` tells "never emitted" from "label missing" from "no traffic".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<duration>[0-9]+(?:ms|[smhdwy])(?:[0-9]+(?:ms|[smhdwy]))*)
  | (?P<number>0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){}\[\],:@])
    """,
    re.VERBOSE,
)
_GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_KEYWORDS = frozenset({"and", "or", "unless", "offset", "bool", "inf", "nan", "atan2", *_GROUPING})


class PromQLSyntaxError(ValueError):
    """The expression could not be tokenized (Prometheus will say more when asked)."""


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str

    def text(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.label}{self.op}"{escaped}"'

    def matches_empty(self) -> bool:
        """Whether a series *without* the label satisfies this matcher (Prometheus semantics)."""
        if self.op == "=":
            return self.value == ""
        if self.op == "!=":
            return self.value != ""
        matched = re.fullmatch(self.value, "") is not None
        return matched if self.op == "=~" else not matched


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[Matcher, ...] = ()
    offset: str = ""

    def text(self, without: str | None = None) -> str:
        """The selector again (without the matcher on label ``without``), no range, no offset."""
        parts = [m.text() for m in self.matchers if m.label != without]
        return f"{self.name}{{{', '.join(parts)}}}" if parts else self.name

    def matcher(self, label: str) -> Matcher | None:
        return next((m for m in self.matchers if m.label == label), None)


@dataclass
class _Stream:
    tokens: list[tuple[str, str]]
    pos: int = 0
    selectors: list[Selector] = field(default_factory=list)

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else ("end", "")


def tokenize(expr: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if not match:
            raise PromQLSyntaxError(f"unexpected {expr[pos]!r} at {pos}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, match.group()))
        pos = match.end()
    return tokens


def _unquote(text: str) -> str:
    if text.startswith("`"):
        return text[1:-1]
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _matchers(s: _Stream) -> tuple[Matcher, ...]:
    """Read ``{label op "value", ...}`` starting at ``{``."""
    s.pos += 1
    found = []
    while s.peek()[1] != "}":
        (kind, label), (_, op), (vkind, value) = s.peek(), s.peek(1), s.peek(2)
        if kind not in ("ident", "string") or op not in ("=", "!=", "=~", "!~") or vkind != "string":
            raise PromQLSyntaxError(f"bad label matcher near {label!r}")
        found.append(Matcher(_unquote(label) if kind == "string" else label, op, _unquote(value)))
        s.pos += 3
        if s.peek()[1] == ",":
            s.pos += 1
    s.pos += 1
    return tuple(found)


def _skip_brackets(s: _Stream) -> None:
    """Skip a ``[range]`` or ``[range:step]`` at the current position."""
    while s.peek()[1] != "]" and s.peek()[0] != "end":
        s.pos += 1
    s.pos += 1


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of ``expr``, in order of appearance (duplicates kept once)."""
    s = _Stream(tokenize(expr))
    while s.pos < len(s.tokens):
        kind, text = s.peek()
        nxt = s.peek(1)[1]
        if kind == "ident" and text in _GROUPING and nxt == "(":
            while s.peek()[1] != ")":
                s.pos += 1
            s.pos += 1
            continue
        if kind == "ident" and text == "offset":
            duration = s.peek(1)[1]
            if s.selectors:
                last = s.selectors[-1]
                s.selectors[-1] = Selector(last.name, last.matchers, duration)
            s.pos += 2
            continue
        if kind == "ident" and text not in _KEYWORDS and nxt not in ("(", "by", "without"):
            s.pos += 1
            matchers = _matchers(s) if s.peek()[1] == "{" else ()
            s.selectors.append(Selector(text, matchers))
            continue
        if kind == "op" and text == "{":
            matchers = _matchers(s)
            name = next((m.value for m in matchers if m.label == "__name__" and m.op == "="), "")
            rest = tuple(m for m in matchers if not (m.label == "__name__" and m.op == "="))
            s.selectors.append(Selector(name, rest))
            continue
        s.pos += 1
    unique: list[Selector] = []
    for sel in s.selectors:
        if sel not in unique:
            unique.append(sel)
    return unique
