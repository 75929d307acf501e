"""A small PromQL lexer and analyser for checking generated queries without a Prometheus.

It is deliberately independent of :mod:`dashboards.queries` (the code under test): it reads
the final expression text, finds every vector selector with its matchers, every grouping
label list, every range and the function that consumes it, so the tests can check catalogue
membership and the dashboard-linter rules on exactly what Grafana will send. Real parsing is
done by a real Prometheus in the live test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<var>\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<duration>[0-9]+(?:ms|[smhdwy])(?:[0-9]+(?:ms|[smhdwy]))*)
  | (?P<number>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){}\[\],:])
    """,
    re.VERBOSE,
)

KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
)
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
AGGREGATIONS = frozenset(
    {
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
    }
)
FUNCTIONS = frozenset(
    {
        "rate", "irate", "increase", "delta", "idelta", "deriv", "histogram_quantile", "label_replace",
        "label_join", "clamp", "clamp_min", "clamp_max", "abs", "vector", "scalar", "time", "round",
        "max_over_time", "min_over_time", "avg_over_time", "sum_over_time", "count_over_time",
        "last_over_time", "absent", "absent_over_time", "sort", "sort_desc", "timestamp", "resets", "changes",
    }
)  # fmt: skip
COUNTER_FUNCTIONS = frozenset({"rate", "irate", "increase"})
COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")


class PromQLSyntaxError(ValueError):
    pass


@dataclass
class Selector:
    metric: str
    matchers: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: The range in brackets right after the selector, if any (e.g. ``$__rate_interval``).
    range: str | None = None
    #: The function whose argument the selector is (``rate`` in ``rate(x[5m])``).
    function: str | None = None


@dataclass
class Analysis:
    selectors: list[Selector] = field(default_factory=list)
    grouping_labels: set[str] = field(default_factory=set)
    derived_labels: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)
    #: Ranges of subqueries (``[$__range:]``) and their consuming function.
    subqueries: list[tuple[str, str | None]] = field(default_factory=list)


def tokenize(expr: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    while pos < len(expr):
        match = TOKEN.match(expr, pos)
        if not match:
            raise PromQLSyntaxError(f"unexpected character {expr[pos]!r} at {pos} in {expr!r}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, match.group()))
        pos = match.end()
    return tokens


def _check_balance(tokens: list[tuple[str, str]], expr: str) -> None:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for kind, text in tokens:
        if kind != "op":
            continue
        if text in "([{":
            stack.append(text)
        elif text in pairs and (not stack or stack.pop() != pairs[text]):
            raise PromQLSyntaxError(f"unbalanced {text!r} in {expr!r}")
    if stack:
        raise PromQLSyntaxError(f"unclosed {stack[-1]!r} in {expr!r}")


def _enclosing_function(tokens: list[tuple[str, str]], index: int) -> str | None:
    """The name before the innermost unclosed ``(`` that precedes token ``index``."""
    depth = 0
    for i in range(index - 1, -1, -1):
        _kind, text = tokens[i]
        if text in (")", "]", "}"):
            depth += 1
        elif text in ("(", "[", "{"):
            if depth:
                depth -= 1
                continue
            if text == "(" and i > 0 and tokens[i - 1][0] == "ident" and tokens[i - 1][1] not in KEYWORDS:
                return tokens[i - 1][1]
            if text == "(":
                return None
    return None


def analyse(expr: str) -> Analysis:
    tokens = tokenize(expr)
    _check_balance(tokens, expr)
    result = Analysis()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "ident" and text in GROUPING and nxt == "(":
            j = i + 2
            while tokens[j][1] != ")":
                if tokens[j][0] == "ident":
                    result.grouping_labels.add(tokens[j][1])
                j += 1
            i = j + 1
            continue
        if kind == "ident" and text in AGGREGATIONS and nxt in ("by", "without"):
            result.functions.add(text)
            i += 1
            continue
        if kind == "ident" and nxt == "(" and text not in KEYWORDS:
            if text not in FUNCTIONS | AGGREGATIONS:
                raise PromQLSyntaxError(f"unknown function {text!r} in {expr!r}")
            result.functions.add(text)
            if text == "label_replace":
                # label_replace(v, "dst", ...): the first string argument at depth 1 is the new label.
                depth, j = 0, i + 1
                while j < len(tokens):
                    t = tokens[j][1]
                    depth += t in "([{" and len(t) == 1
                    depth -= t in ")]}" and len(t) == 1
                    if depth == 1 and tokens[j][0] == "string":
                        result.derived_labels.add(t.strip("\"'`"))
                        break
                    j += 1
            i += 1
            continue
        if kind == "ident" and text not in KEYWORDS:
            selector = Selector(text)
            j = i + 1
            if j < len(tokens) and tokens[j][1] == "{":
                j += 1
                while tokens[j][1] != "}":
                    label, op, value = tokens[j][1], tokens[j + 1][1], tokens[j + 2][1]
                    if (
                        tokens[j][0] != "ident"
                        or op not in ("=", "!=", "=~", "!~")
                        or tokens[j + 2][0] != "string"
                    ):
                        raise PromQLSyntaxError(f"bad matcher near {label!r} in {expr!r}")
                    selector.matchers[label] = (op, value[1:-1])
                    j += 3
                    if tokens[j][1] == ",":
                        j += 1
                j += 1
            if j < len(tokens) and tokens[j][1] == "[":
                k = j + 1
                parts = []
                while tokens[k][1] != "]":
                    parts.append(tokens[k][1])
                    k += 1
                selector.range = "".join(parts)
                j = k + 1
            selector.function = _enclosing_function(tokens, i)
            result.selectors.append(selector)
            i = j
            continue
        if text == "]" and kind == "op":
            # closing a subquery: find its opening bracket and the ':' inside
            depth, k = 0, i - 1
            inside: list[str] = []
            while k >= 0:
                t = tokens[k][1]
                if t == "]":
                    depth += 1
                elif t == "[":
                    if depth == 0:
                        break
                    depth -= 1
                inside.insert(0, t)
                k -= 1
            if ":" in inside:
                result.subqueries.append(("".join(inside), _enclosing_function(tokens, k)))
        i += 1
    return result
