"""Find the vector selectors of an expanded PromQL expression, to ask Prometheus about each.

Only what explaining an empty panel needs: each selector's metric name, its label matchers (as
written, so a selector can be rebuilt without one of them) and the ``offset`` that shifts it.
Function names, aggregation keywords, grouping label lists, strings, numbers and durations are
skipped; Prometheus itself parses the expression when the panel runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dashboards.snapshot.prometheus import parse_duration

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<var>\$\{[^}]+\}|\$\w+)
  | (?P<duration>[0-9]+(?:ms|[smhdwy])(?:[0-9]+(?:ms|[smhdwy]))*\b)
  | (?P<number>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){}\[\],:@])
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset({"and", "or", "unless", "offset", "bool", "atan2"})
_GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str  # as written, quotes included

    def __str__(self) -> str:
        return f"{self.label}{self.op}{self.value}"


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[Matcher, ...] = ()
    offset: float = 0.0

    def text(self, without: Matcher | None = None) -> str:
        """The selector as PromQL, optionally leaving one matcher out."""
        kept = [str(m) for m in self.matchers if m is not without]
        return f"{self.metric}{{{', '.join(kept)}}}"


def _tokens(expr: str) -> list[tuple[str, str]]:
    found = []
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            raise ValueError(f"cannot read {expr[pos : pos + 20]!r} in {expr!r}")
        if match.lastgroup != "ws":
            found.append((match.lastgroup or "", match.group()))
        pos = match.end()
    return found


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of ``expr``, in order of appearance."""
    tokens = _tokens(expr)
    found: list[Selector] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "ident" and text in _GROUPING and following == "(":
            i = next(j for j in range(i, len(tokens)) if tokens[j][1] == ")") + 1
            continue
        aggregation = following in ("by", "without")  # sum by (job) (...)
        if kind != "ident" or text in _KEYWORDS or following == "(" or text in _GROUPING or aggregation:
            i += 1
            continue
        j = i + 1
        matchers: list[Matcher] = []
        if following == "{":
            j += 1
            while tokens[j][1] != "}":
                if tokens[j][1] == ",":
                    j += 1
                    continue
                matchers.append(Matcher(tokens[j][1], tokens[j + 1][1], tokens[j + 2][1]))
                j += 3
            j += 1
        if j < len(tokens) and tokens[j][1] == "[":
            j = next(k for k in range(j, len(tokens)) if tokens[k][1] == "]") + 1
        offset = 0.0
        if j + 1 < len(tokens) and tokens[j][1] == "offset":
            negative = tokens[j + 1][1] == "-"
            value = tokens[j + 2][1] if negative else tokens[j + 1][1]
            offset = -parse_duration(value) if negative else parse_duration(value)
        found.append(Selector(text, tuple(matchers), offset))
        i = j
    return found
