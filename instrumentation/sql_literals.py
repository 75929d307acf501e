"""SQL literal stripping: a statement as it may be recorded (``db.query.text``), without values.

:func:`strip_literals` replaces every string and numeric literal of a statement by ``?`` and
keeps everything else (keywords, identifiers, placeholders such as ``%s`` and ``$1``, comments),
so ``SELECT * FROM auth_user WHERE password = 'hunter2' LIMIT 1`` becomes
``SELECT * FROM auth_user WHERE password = ? LIMIT ?``.

Where a literal ends depends on the database, and a scanner that gets the end wrong shows the
rest of the string as if it were SQL. The quoting rules followed, by Django vendor name:

================  ===========================================================================
``postgresql``    ``'...'`` with ``''`` (standard strings: a backslash is an ordinary
                  character); ``E'...'`` with backslash escapes too; dollar-quoted ``$$...$$``
                  and ``$tag$...$tag$``; ``"..."`` is an identifier; nested ``/* */`` comments
``mysql``         ``'...'`` and ``"..."`` with backslash escapes and doubled quotes; backquoted
                  identifiers; ``#`` and ``-- `` comments; ``/*! ... */`` holds SQL (scanned)
``sqlite``        ``'...'`` with ``''``; ``"..."``, ``[...]`` and backquotes are identifiers
``None``          (vendor unknown) the statement's own quoting picks: backquotes or ``/*!``
                  mean MySQL; otherwise PostgreSQL's rules, except that a ``'...'`` string
                  whose end differs under backslash escaping hides everything after it, and
                  ``#`` hides the rest of its line
================  ===========================================================================

``B'...'``, ``X'...'``, ``N'...'`` and ``U&'...'`` literals lose their prefix with their value.
The scan is a loop of anchored regular expressions without nested quantifiers: linear time,
and it stops once :data:`MAX_STATEMENT` characters of output are reached (a bulk ``INSERT`` of
megabytes costs no more than its first kilobytes).
"""

from __future__ import annotations

import re

__all__ = ["MAX_STATEMENT", "strip_literals"]

#: Longest statement returned; the rest is cut.
MAX_STATEMENT = 2048

_PLACEHOLDER = "?"
_WORD = r"(?<![\w$])"
_NUMBER = rf"{_WORD}(?:\d[\d_]*+(?:\.\d*+)?|(?<!\.)\.\d++)(?:[eE][+-]?\d++)?\w*+"
_TOKENS = {
    "postgresql": re.compile(
        rf"""(?P<line>--)|(?P<block>/\*)|(?P<string>{_WORD}(?:[eE](?P<e>)|[bBxXnN]|[uU]&)?')
        |(?P<ident>")|(?P<dollar>{_WORD}\$(?:[A-Za-z_][A-Za-z_0-9]*+)?\$)|(?P<number>{_NUMBER})""",
        re.VERBOSE,
    ),
    "mysql": re.compile(
        rf"""(?P<line>--(?=\s|$)|\#)|(?P<hint>/\*[!+]\d*+)|(?P<block>/\*)
        |(?P<string>{_WORD}(?:[bBxXnN])?(?P<q>['"]))|(?P<ident>`)|(?P<number>{_NUMBER})""",
        re.VERBOSE,
    ),
    "sqlite": re.compile(
        rf"""(?P<line>--)|(?P<block>/\*)|(?P<string>{_WORD}(?:[bBxXnN])?')
        |(?P<ident>["`\[])|(?P<number>{_NUMBER})""",
        re.VERBOSE,
    ),
}
# Vendor unknown: PostgreSQL's rules, and a ``#`` (MySQL's comment, PostgreSQL's XOR) hides the
# rest of its line, so a quote in a MySQL comment cannot shift every string after it.
_TOKENS["neutral"] = re.compile(
    rf"""(?P<line>--)|(?P<hidden>\#)|(?P<block>/\*)|(?P<string>{_WORD}(?:[eE](?P<e>)|[bBxXnN]|[uU]&)?')
    |(?P<ident>")|(?P<dollar>{_WORD}\$(?:[A-Za-z_][A-Za-z_0-9]*+)?\$)|(?P<number>{_NUMBER})""",
    re.VERBOSE,
)
_DIALECTS = {"postgresql": "postgresql", "postgres": "postgresql", "mysql": "mysql", "mariadb": "mysql"}
_DIALECTS |= {"sqlite": "sqlite", "sqlite3": "sqlite"}

# The rest of a string after its opening quote, closing quote included. Possessive runs of
# ordinary characters between escapes: no backtracking.
_STANDARD_END = {q: re.compile(rf"[^{q}]*+(?:{q}{q}[^{q}]*+)*+{q}") for q in "'\""}
_BACKSLASH_END = {q: re.compile(rf"[^{q}\\]*+(?:(?:\\.|{q}{q})[^{q}\\]*+)*+{q}", re.DOTALL) for q in "'\""}
_IDENT_END = {
    '"': _STANDARD_END['"'],
    "`": re.compile(r"[^`]*+(?:``[^`]*+)*+`"),
    "[": re.compile(r"[^\]]*+\]"),
}
_BLOCK_EDGE = re.compile(r"/\*|\*/")


def strip_literals(sql: str, dialect: str | None = None) -> str:
    """``sql`` with string and number literals replaced by ``?``, cut to :data:`MAX_STATEMENT`.

    ``dialect`` is a Django database vendor (``connection.vendor``: ``postgresql``, ``mysql``,
    ``sqlite``); unknown or ``None``, the statement's own quoting picks the rules.
    """
    name = _DIALECTS.get(dialect.lower(), "neutral") if dialect else "neutral"
    if name == "neutral" and ("`" in sql or "/*!" in sql):
        name = "mysql"
    search = _TOKENS[name].search
    out: list[str] = []
    size = 0
    pos = 0
    length = len(sql)
    while size < MAX_STATEMENT and (token := search(sql, pos)) is not None:
        start = token.start()
        kind = token.lastgroup
        if kind in {"e", "q"}:  # an inner group closed last: the string it belongs to
            kind = "string"
        end, replace = _token_end(sql, token, kind, name)
        piece = sql[pos:start] + (_PLACEHOLDER if replace else sql[start:end])
        out.append(piece)
        size += len(piece)
        pos = end
        if end >= length:
            break
    if size < MAX_STATEMENT and pos < length:
        out.append(sql[pos : pos + MAX_STATEMENT - size])
    return "".join(out)[:MAX_STATEMENT]


def _token_end(sql: str, token: re.Match[str], kind: str | None, dialect: str) -> tuple[int, bool]:
    """Where the token found by the scanner ends, and whether it is a literal (replaced)."""
    end = token.end()
    length = len(sql)
    if kind == "number":
        return end, True
    if kind == "string":
        quote = sql[end - 1]
        if dialect == "mysql" or token.group("string").lower().startswith("e"):
            found = _BACKSLASH_END[quote].match(sql, end)
            return (found.end() if found else length), True
        found = _STANDARD_END[quote].match(sql, end)
        stop = found.end() if found else length
        if dialect == "neutral" and "\\" in sql[end:stop]:
            escaped = _BACKSLASH_END[quote].match(sql, end)
            if escaped is None or escaped.end() != stop:
                return length, True  # ends differently if backslashes escape: hide the rest
        return stop, True
    if kind == "dollar":
        tag = token.group()
        close = sql.find(tag, end)
        return (close + len(tag) if close >= 0 else length), True
    if kind == "ident":
        found = _IDENT_END[token.group()].match(sql, end)
        return (found.end() if found else length), False
    if kind == "hidden":
        newline = sql.find("\n", end)
        return (newline if newline >= 0 else length), True
    if kind == "line":
        newline = sql.find("\n", end)
        return (newline if newline >= 0 else length), False
    if kind == "hint":
        return end, False  # MySQL's /*! ... */ holds SQL: scan on inside it
    # A block comment: PostgreSQL nests them, the others end at the first */.
    if dialect != "postgresql":
        close = sql.find("*/", end)
        return (close + 2 if close >= 0 else length), False
    depth = 1
    for edge in _BLOCK_EDGE.finditer(sql, end):
        depth += 1 if edge.group() == "/*" else -1
        if depth == 0:
            return edge.end(), False
    return length, False
