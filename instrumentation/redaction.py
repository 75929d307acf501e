"""Redaction and hygiene: what every value goes through before it leaves the process.

Three concerns, applied in this order by the log pipeline (and reusable by the tracing package
for span attributes):

1. **Secrets, structure first.** A key (mapping key, header name, query parameter, form field,
   the first item of a ``(key, value)`` pair) is *sensitive* when one of its words is one of
   ``redact_keys`` (``password``, ``token``, ``session``, ...), possibly numbered or plural at
   the end (``password1``, ``new_password2``, ``api_keys``), or when it ends with one
   (``csrfmiddlewaretoken``). Sensitive values become :data:`REDACTED` whatever their type.
   Django's ``QueryDict``/``MultiValueDict`` keep all their values (``lists()``).
2. **Secrets, text second.** Free text (messages, exception messages, stack traces, strings at
   any depth) is scanned by :class:`_TextScanner` for a sensitive key followed by ``=``, ``:``,
   ``=>`` or ``%3D`` (and ``--key value`` command-line options); the value after it is masked
   *to its real end*: a quoted string to its closing quote (escaped quotes, ``\\"`` inside
   JSON-in-JSON, newlines and PEM bodies of any length included), a bracketed value (``['x']``,
   ``{...}``, ``(...)``) to its matching bracket, otherwise up to the next delimiter. Then
   values that need no key: ``Bearer``/``Basic`` credentials, ``user:password@`` (and a bare
   token as user) in ``scheme://`` URLs, PEM private keys, JWTs, GitHub, GitLab, Slack, Stripe
   and Google API tokens, AWS access key ids, and card numbers (a known issuer prefix and a
   valid Luhn check digit). Every step is a regular expression without nested quantifiers or
   a forward-only scan: linear time on any input.
3. **Personal data** (optional, ``PII_MASKING``): e-mail addresses in text are replaced by a
   short hash of the address, IP addresses are truncated (IPv4 to /24, IPv6 to /48).
4. **Hygiene.** Control characters (C0, DEL, C1, which include ANSI escapes and newlines), the
   line and paragraph separators and the invisible format characters (Unicode category Cf:
   bidi overrides such as U+202E, zero-width spaces, the byte order mark, tags) are escaped as
   ``\\xNN`` / ``\\uNNNN`` / ``\\n`` as Django escapes the arguments of its request log lines,
   so one event stays one line that reads the same in any viewer, and values longer than
   ``max_value_length`` are cut with a :data:`TRUNCATED` marker. Multi-line text fields
   (message, error message, stack trace) keep their newlines and tabs: JSON encodes them.

A :class:`Redactor` is built once from the settings (regular expressions compiled once, key
decisions cached); :func:`get_redactor` returns the one for the current settings and
:func:`reset` forgets it. The module functions (:func:`redact_query`, :func:`redact_headers`,
:func:`redact_mapping`, :func:`redact_text`, :func:`is_sensitive_key`) use that default.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote_plus

from instrumentation.conf import DEFAULT_REDACT_KEYS, get_settings
from instrumentation.lifecycle import on_reset

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

REDACTED = "[REDACTED]"
TRUNCATED = "...[truncated {} chars]"
ALWAYS_REDACTED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})

# Invisible format characters (Unicode category Cf, as of Unicode 15): bidi embeddings,
# overrides and isolates (U+202A-202E, U+2066-2069) reorder what a reader sees, zero-width
# characters hide text, tags (U+E0000 block) carry invisible ASCII. A test keeps this in step
# with ``unicodedata``.
FORMAT_CHARACTERS = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
# C0 controls, DEL, C1 controls (ESC starts ANSI sequences; U+0085 is a newline to some tools),
# the Unicode line and paragraph separators (newlines to others, Python's splitlines too) and
# the format characters.
_CONTROL = re.compile(rf"[\x00-\x1f\x7f-\x9f\u2028\u2029{FORMAT_CHARACTERS}]")
# The same without newline and tab, for multi-line text fields.
_CONTROL_TEXT = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029{FORMAT_CHARACTERS}]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_KEY_SEPARATORS = re.compile(r"[^a-z0-9]+")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SCHEMES = ("bearer", "basic", "token", "digest")
_CREDENTIAL_SCHEME = re.compile(r"(?i)\b(" + "|".join(_SCHEMES) + r")(\s+)[A-Za-z0-9\-._~+/=:]{4,}+")
_URL_MARK = "://"
# The start of a URL with an authority; the URL itself runs to whitespace, a quote or <>.
_URL_START = re.compile(r"(?i)(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}://")
_URL_END = re.compile(r"""[\s"'<>`]""")
# A user name that is itself a credential (``https://ghp_...@github.com/``).
_TOKEN_USER = re.compile(r"[A-Za-z0-9_.~%+-]{16,}|(?:gh[pousr]_|github_pat_|glpat-|xox[abprs]-|[sr]k_).*")
# Credentials recognisable without a key. Case-sensitive, each a literal prefix and one
# possessive run: linear time.
_TOKENS = re.compile(
    r"""(?x)(?<![A-Za-z0-9_-])(?:
      eyJ[A-Za-z0-9_-]{8,}+\.eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]*+   # JSON Web Token
    | gh[pousr]_[A-Za-z0-9]{20,}+ | github_pat_[A-Za-z0-9_]{20,}+     # GitHub
    | glpat-[A-Za-z0-9_-]{20,}+                                       # GitLab
    | xox[abprs]-[A-Za-z0-9-]{10,}+                                   # Slack
    | (?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}+ | whsec_[A-Za-z0-9]{20,}+  # Stripe
    | AIza[A-Za-z0-9_-]{35}                                           # Google API key
    | (?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])              # AWS access key id
    )"""
)
_TOKEN_TRIGGERS = (
    "eyj", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xox",
    "sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_", "aiza",
    "akia", "asia", "abia", "acca",
)  # fmt: skip
# A PEM private key block, keyed or not; its body runs to the END line (or the end of text).
_PEM_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_PEM_TRIGGER = "-----begin"
# 13 to 19 digits, optionally grouped by spaces or dashes, starting like an issuer's number:
# then the Luhn check decides (see _mask_card).
_CARD = re.compile(r"(?<![\w.])[2-6]\d(?:[ -]?\d){11,17}(?![\w])")
_CARD_TRIGGER = re.compile(r"\d{4}[ -]?\d{4}[ -]?\d{2}")
# A sensitive key followed by its separator, the value parsed by _TextScanner. Values of a
# ``(key, value)`` tuple repr follow a comma when the key is quoted after ``(``.
_VALUE_QUOTE = re.compile(r"""(\\*)(["'])""")
_UNQUOTED_VALUE = re.compile(
    r"""(?i)(?:(?:bearer|basic|token|digest)\s++)?(?:(?!%26|%2c)[^\s&,;"'}\])<>])++"""
)
_BRACKETS = {"[": "]", "(": ")", "{": "}"}
_QUOTES_AND_BRACKETS = "\\\"'[({"
_BRACKET_TOKEN = re.compile(r"""[\[\](){}]|(?<!\\)(\\*+)(["'])""")
_KEY_CACHE_LIMIT = 4096
#: Short values seen again (a method, a path, a user agent, a logger's message) are redacted once
#: and remembered: at most this many, of at most ``_VALUE_CACHE_LENGTH`` characters.
_VALUE_CACHE_LIMIT = 2048
_VALUE_CACHE_LENGTH = 256
#: Items of a list, or keys of a mapping, a log value keeps (a huge structure would make a line
#: of megabytes); the rest is counted in a marker.
MAX_ITEMS = 100
#: Integers shorter than a card number (13 digits) are logged as they are.
SAFE_INT_LIMIT = 10**12
#: Longest key of a logged mapping.
MAX_KEY_LENGTH = 256
#: Text scanned for secrets beyond what is kept: ``SCAN_FACTOR`` x the kept length, cut at the
#: end (so a key keeps what is left of its value); the rest only counts in the truncation marker.
SCAN_FACTOR = 4


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape_control(value: str, *, multiline: bool = False) -> str:
    """Escape control characters; with ``multiline`` newlines and tabs are kept."""
    if value.isprintable():
        return value
    pattern = _CONTROL_TEXT if multiline else _CONTROL
    return pattern.sub(_escape_char, value)


def _replace_surrogates(value: str) -> str:
    """Lone surrogates (undecodable bytes smuggled into ``str``) cannot be encoded as UTF-8."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def safe_str(value: object, render: Any = str) -> str:
    """``render(value)`` (``str`` by default) as text, whatever its ``__str__``/``__repr__`` does."""
    try:
        return str(render(value))
    except Exception:  # noqa: BLE001 - a broken __str__ or __repr__ must not lose the line
        return f"<unprintable {type(value).__name__}>"


def truncate(value: str, limit: int) -> str:
    """Cut ``value`` to ``limit`` characters, saying how many were dropped."""
    if len(value) <= limit:
        return value
    return value[:limit] + TRUNCATED.format(len(value) - limit)


class Redactor:
    """Masks secrets and (optionally) personal data; built once per settings snapshot."""

    def __init__(
        self,
        redact_keys: Iterable[str],
        *,
        pii_masking: bool = False,
        max_value_length: int = 2048,
    ) -> None:
        words = sorted({self._normalise(k) for k in redact_keys if k.strip()}, key=len, reverse=True)
        words = [w for w in words if w]
        self.redact_keys = tuple(words)
        self.pii_masking = pii_masking
        self.max_value_length = max_value_length
        self._key_cache: dict[str, bool] = {}
        self._value_cache: dict[str, str] = {}
        self._text_cache: dict[str, str] = {}
        if words:
            alternatives = "|".join(re.escape(w) for w in words)
            # A word that ends a word of the key, possibly numbered (``password2``); a plural only
            # at the end of the key (``api_keys``, but ``tokens_used`` is a count).
            self._key_pattern: re.Pattern[str] | None = re.compile(
                rf"(?:{alternatives})\d*(?:_|$)|(?:{alternatives})(?:s|es)\d*$"
            )
            # A run of key characters containing a sensitive word, starting where the run starts
            # (so a run is tried once), the atomic group and possessive quantifier never retry it.
            text_alternatives = "|".join(re.escape(w).replace("_", "[-_. ]?") for w in words)
            # Run on lower-cased text (the words are lower case): much faster than (?i).
            self._text_pattern: re.Pattern[str] | None = re.compile(
                rf"(?<![\w.-])(?P<key>(?>[\w.-]*?(?:{text_alternatives}))[\w.-]*+)"
            )
            self._text_pattern_any_case: re.Pattern[str] | None = re.compile(
                self._text_pattern.pattern, re.IGNORECASE
            )
        else:
            self._key_pattern = None
            self._text_pattern = None
            self._text_pattern_any_case = None
        # Cheap substring tests run before the (much slower) text patterns: a sensitive pair
        # needs one of these words in the lower-cased text, a credential one of the schemes.
        heads = {w.split("_")[0] for w in words if w.split("_")[0]}
        self._prefilter = tuple(sorted(heads))
        # Most values hold none of them: one scan for all (a word containing another is found
        # by the shorter one) tells so.
        triggers = heads | set(_SCHEMES) | set(_TOKEN_TRIGGERS) | {_URL_MARK, _PEM_TRIGGER}
        # Substring tests are much faster than one regular expression of alternatives.
        self._triggers = tuple(sorted(t for t in triggers if not any(o != t and o in t for o in triggers)))

    def _suspect(self, lower: str) -> bool:
        """Whether lower-cased text may hold anything :meth:`redact_text` masks."""
        return any(trigger in lower for trigger in self._triggers) or _CARD_TRIGGER.search(lower) is not None

    @staticmethod
    def _normalise(key: str) -> str:
        key = _CAMEL.sub("_", key.strip())
        return _KEY_SEPARATORS.sub("_", key.lower()).strip("_")

    # --- keys -------------------------------------------------------------------------------
    def is_sensitive_key(self, key: str) -> bool:
        """True when values under ``key`` must never be logged."""
        cached = self._key_cache.get(key)
        if cached is not None:
            return cached
        normalised = self._normalise(key)
        result = normalised.replace("_", "-") in ALWAYS_REDACTED_HEADERS or normalised in {
            "http_authorization",
            "http_cookie",
        }
        if not result and self._key_pattern is not None:
            result = self._key_pattern.search(normalised) is not None
        if len(self._key_cache) >= _KEY_CACHE_LIMIT:
            self._key_cache.clear()
        self._key_cache[key] = result
        return result

    # --- structured values --------------------------------------------------------------------
    def redact_query(self, query: str, *, _depth: int = 0) -> str:
        """Mask the values of sensitive parameters in a URL query string (``a=1&token=x``).

        Values that are themselves URLs or queries (a ``next`` redirect target) are decoded and
        redacted too, and re-encoded only when something was masked.
        """
        if not query or self._key_pattern is None:
            return query
        parts = query.split("&")
        changed = False
        for index, part in enumerate(parts):
            key, sep, value = part.partition("=")
            if not sep:
                continue
            if self.is_sensitive_key(unquote_plus(key)):
                parts[index] = f"{key}={REDACTED}"
                changed = True
            elif "=" in value or "@" in value or "%3d" in value.lower() or "%40" in value.lower():
                # A URL or query inside a value (``?next=/account/%3Fpassword%3D...``,
                # ``?next=https://user:pw@host/``).
                nested = self._redact_nested(value, _depth)
                if nested is not None:
                    parts[index] = f"{key}={nested}"
                    changed = True
        return "&".join(parts) if changed else query

    def _redact_nested(self, value: str, depth: int) -> str | None:
        if depth >= 3:
            return None
        decoded = unquote_plus(value)
        head, sep, inner = decoded.partition("?")
        if sep:
            redacted = head + sep + self.redact_query(inner, _depth=depth + 1)
        else:
            redacted = self.redact_query(decoded, _depth=depth + 1)
        redacted = self.redact_text(redacted)
        if redacted == decoded:
            return None
        return quote(redacted, safe="/:")

    def redact_url(self, url: str) -> str:
        """Mask credentials in ``user:password@`` and sensitive query parameters of a URL."""
        head, sep, query = url.partition("?")
        if "@" in head:
            head = _mask_userinfo(head)
        return head + sep + self.redact_query(query) if sep else head

    def redact_headers(self, headers: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``headers`` with sensitive ones masked (works with WSGI ``HTTP_*`` keys too)."""
        return {name: REDACTED if self.is_sensitive_key(name) else value for name, value in headers.items()}

    def redact_mapping(self, data: Mapping[str, Any], *, _depth: int = 0) -> dict[str, Any]:
        """A copy of ``data`` with sensitive keys masked, recursively (depth- and size-limited)."""
        result: dict[str, Any] = {}
        # Django's QueryDict/MultiValueDict: items() shows one value per key, lists() all.
        lists = getattr(data, "lists", None)
        items = lists() if callable(lists) else data.items()
        for index, (key, value) in enumerate(items):
            if index >= MAX_ITEMS:
                result["..."] = f"[{len(data) - MAX_ITEMS} more keys]"
                break
            name = key if isinstance(key, str) else safe_str(key)
            if len(name) > MAX_KEY_LENGTH or not name.isprintable():
                name = truncate(escape_control(name), MAX_KEY_LENGTH)
            if self.is_sensitive_key(name):
                result[name] = REDACTED
            else:
                result[name] = self.redact_value(value, _depth=_depth + 1)
        return result

    def redact_value(self, value: Any, *, _depth: int = 0) -> Any:
        """Redact and clean one value of any JSON-able shape: strings anywhere in it get the
        free-text redaction too; lists and mappings keep their first ``MAX_ITEMS`` entries."""
        if isinstance(value, str):
            return self.redact_and_clean(value)
        if value is None or isinstance(value, bool | float):
            return value
        if isinstance(value, int):
            return REDACTED if SAFE_INT_LIMIT <= abs(value) < 10**19 and _is_card(str(abs(value))) else value
        if _depth > 8:
            return self.redact_and_clean(safe_str(value, repr))
        if isinstance(value, Mapping):
            return self.redact_mapping(value, _depth=_depth)
        if isinstance(value, list | tuple | set | frozenset):
            if (
                len(value) == 2
                and isinstance(value, list | tuple)
                and isinstance(value[0], str)
                and self.is_sensitive_key(value[0])
            ):
                return [self.redact_and_clean(value[0]), REDACTED]  # a (key, value) pair
            items = [
                self.redact_value(item, _depth=_depth + 1)
                for item in (value if isinstance(value, list | tuple) else list(value))[:MAX_ITEMS]
            ]
            if len(value) > MAX_ITEMS:
                items.append(f"[{len(value) - MAX_ITEMS} more items]")
            return items
        if isinstance(value, bytes | bytearray):
            return self.redact_and_clean(
                bytes(value[: self.max_value_length * SCAN_FACTOR]).decode("utf-8", "replace")
            )
        return self.redact_and_clean(safe_str(value))

    # --- text ---------------------------------------------------------------------------------
    def redact_text(self, text: str) -> str:
        """Mask secrets in free text (and PII when enabled); see the module docstring."""
        lower = text.lower()
        if self._suspect(lower):
            if _PEM_TRIGGER in lower:
                text = _mask_pem(text)
            if self._text_pattern is not None and any(word in lower for word in self._prefilter):
                text = self._mask_pairs(text)
            if any(scheme in lower for scheme in _SCHEMES):
                text = _CREDENTIAL_SCHEME.sub(rf"\g<1>\g<2>{REDACTED}", text)
            if _URL_MARK in lower and "@" in text:
                text = _mask_userinfo(text)
            if any(trigger in lower for trigger in _TOKEN_TRIGGERS):
                text = _TOKENS.sub(REDACTED, text)
            text = _CARD.sub(_mask_card, text)
        if self.pii_masking:
            text = self.mask_pii(text)
        return text

    def _mask_pairs(self, text: str) -> str:
        """Mask the value after every sensitive ``key=``/``key:`` in ``text``, to its real end."""
        if self._text_pattern is None or self._text_pattern_any_case is None:
            return text
        pattern, subject = self._text_pattern, text.lower()
        if len(subject) != len(text):  # positions in the lower-cased text are not those of text
            pattern, subject = self._text_pattern_any_case, text
        search = pattern.search
        pieces: list[str] = []
        copied = pos = 0
        while (match := search(subject, pos)) is not None:
            pos = match.end()
            separator = _SEPARATOR.match(text, pos)
            if separator is None:
                continue
            key = text[match.start("key") : match.end("key")]
            if (
                separator.group("space") is not None
                and not key.startswith("-")
                and not text.startswith(("'", '"'), separator.end())
            ):
                continue  # ``--password value`` and ``signature "value"``: "token expired" is prose
            if separator.group("comma") is not None and not _in_pair(text, match.start(), separator):
                continue
            if not self.is_sensitive_key(key):
                continue
            start = separator.end()
            if start < copied:  # a key inside a value masked already: nothing more to hide
                pos = max(start, pos)
                continue
            span = _value_span(text, start)
            if span is None:
                pos = start
                continue
            mask_from, mask_to, end = span
            if text[mask_from:mask_to] != REDACTED:
                pieces.append(text[copied:mask_from])
                pieces.append(REDACTED)
                copied = mask_to
            # A bare value may hold a key itself (``BadSignature: Signature "x"``): scanned again
            # for keys, whose values inside it are skipped above. Quoted and bracketed values are
            # skipped whole, unless a blank-separated quoted value is itself followed by a key's
            # separator (``PRIVATEKEY "password": "x"``): masked, and scanned again as the key of
            # the next pair.
            if text[start] in _QUOTES_AND_BRACKETS:
                rescan = separator.group("space") is not None and _KEY_SEPARATOR.match(text, end) is not None
            else:
                rescan = pattern.match(subject, start) is not None
            pos = start if rescan else end
        if not pieces:
            return text
        pieces.append(text[copied:])
        return "".join(pieces)

    def mask_pii(self, text: str) -> str:
        """Replace e-mail addresses by a hash and truncate IPv4 addresses in free text."""
        if "@" in text:
            text = _EMAIL.sub(_hash_email, text)
        if "." in text:
            text = _IPV4.sub(_truncate_ipv4_match, text)
        return text

    def mask_ip(self, address: str) -> str:
        """Truncate an address (IPv4 /24, IPv6 /48) when PII masking is on."""
        if not self.pii_masking:
            return address
        return truncate_ip(address)

    def clean(self, value: str, *, multiline: bool = False, limit: int | None = None) -> str:
        """Escape control characters and truncate: the hygiene every string value gets."""
        if value.isprintable() and len(value) <= (self.max_value_length if limit is None else limit):
            return value  # the common case, without the calls below
        value = escape_control(value, multiline=multiline)
        return truncate(value, self.max_value_length if limit is None else limit)

    def redact_and_clean(self, value: str) -> str:
        """``clean(redact_text(value))``, returned at once for the usual value that needs neither,
        and remembered for a short value (most repeat from line to line)."""
        short = len(value) <= _VALUE_CACHE_LENGTH
        if short:
            known = self._value_cache.get(value)
            if known is not None:
                return known
        if (
            len(value) <= self.max_value_length
            and not self.pii_masking
            and value.isprintable()
            and not self._suspect(value.lower())
        ):
            result = value
        else:
            result = self._redact_bounded(value, multiline=False, limit=self.max_value_length)
        if short:
            if len(self._value_cache) >= _VALUE_CACHE_LIMIT:
                self._value_cache.clear()
            self._value_cache[value] = result
        return result

    def clean_text(self, value: str, *, limit: int | None = None) -> str:
        """Redact secrets in free text, then clean it keeping newlines (a short message, which
        most lines repeat, is redacted once and remembered)."""
        if limit is not None or len(value) > _VALUE_CACHE_LENGTH:
            return self._redact_bounded(
                value, multiline=True, limit=self.max_value_length if limit is None else limit
            )
        known = self._text_cache.get(value)
        if known is None:
            known = self._redact_bounded(value, multiline=True, limit=self.max_value_length)
            if len(self._text_cache) >= _VALUE_CACHE_LIMIT:
                self._text_cache.clear()
            self._text_cache[value] = known
        return known

    def _redact_bounded(self, value: str, *, multiline: bool, limit: int) -> str:
        """``clean(redact_text(value))`` that scans at most ``SCAN_FACTOR`` x ``limit`` characters."""
        scanned = limit * SCAN_FACTOR
        if len(value) <= scanned:
            return self.clean(self.redact_text(value), multiline=multiline, limit=limit)
        text = escape_control(self.redact_text(value[:scanned]), multiline=multiline)
        return text[:limit] + TRUNCATED.format(len(text) - limit + len(value) - scanned)


# After a key: its closing quote (``"key": ``, ``\"key\": ``), then ``=``, ``:``, ``=>`` or an
# encoded ``=``; or a comma (``('password', 'x')``); or blanks (``--password x``).
_SEPARATOR = re.compile(
    r"""(?P<close>\\*["']|\))?[ \t]*+(?:(?:=>|[=:]|%3[dD])\s*+|(?P<comma>,)[ \t]*+|(?P<space>(?<=[ \t])))"""
)
# What makes the text before it a key: ``=``, ``:``, ``=>`` or an encoded ``=`` (not a blank).
_KEY_SEPARATOR = re.compile(r"[ \t]*+(?:=>|[=:]|%3[dD])")
# A run of backslashes is matched only from its first backslash (the lookbehind), so a long run
# with no quote after it is read once, not once per position (which was quadratic).
_QUOTE_RUNS = {'"': re.compile(r'(?<!\\)(\\*+)"'), "'": re.compile(r"(?<!\\)(\\*+)'")}
_PEM_END = re.compile(r"-----END[A-Z0-9 ]{0,40}-----")


def _in_pair(text: str, key_start: int, separator: re.Match[str]) -> bool:
    """True for ``('key', value)``: a quoted key right after an opening parenthesis."""
    quote = separator.group("close")
    return bool(quote) and key_start >= 2 and text[key_start - 1] == quote[-1] and text[key_start - 2] == "("


def _quote_end(text: str, pos: int, quote: str, escapes: int) -> tuple[int, int]:
    """(where the content ends, where the closing quote ends) of a string opened before ``pos``
    by ``quote`` after ``escapes`` backslashes: ``"`` in plain text, ``\\"`` in JSON inside a
    JSON string, and so on. Its closing quote has the same number of backslashes modulo
    ``2 x escapes + 2`` (an escaped quote inside it has more); no closing quote: the end."""
    modulus = 2 * escapes + 2
    for match in _QUOTE_RUNS[quote].finditer(text, pos):
        if len(match.group(1)) % modulus == escapes:
            return match.end() - 1 - escapes, match.end()
    return len(text), len(text)


def _bracket_end(text: str, start: int) -> int:
    """Where the bracketed value opened at ``start`` ends (nesting and quoted strings followed);
    unbalanced: the end of the text."""
    expected = [_BRACKETS[text[start]]]
    pos = start + 1
    search = _BRACKET_TOKEN.search
    while expected:
        match = search(text, pos)
        if match is None:
            return len(text)
        pos = match.end()
        quote = match.group(2)
        if quote is not None:
            if len(match.group(1)) % 2 == 0:
                pos = _quote_end(text, pos, quote, 0)[1]
            continue
        token = match.group()
        if token in _BRACKETS:
            expected.append(_BRACKETS[token])
        elif token == expected[-1]:
            expected.pop()
    return pos


def _value_span(text: str, start: int) -> tuple[int, int, int] | None:
    """(mask from, mask to, value end) of the value starting at ``start``; None when empty."""
    if start >= len(text):
        return None
    char = text[start]
    if char in "\\\"'":
        opening = _VALUE_QUOTE.match(text, start)
        if opening is not None:
            content = opening.end()
            content_end, end = _quote_end(text, content, opening.group(2), len(opening.group(1)))
            return (content, content_end, end) if content_end > content else None
    if char in _BRACKETS:
        end = _bracket_end(text, start)
        return start, end, end
    if text.startswith("-----BEGIN", start):
        found = _PEM_END.search(text, start)
        end = found.end() if found is not None else len(text)
        return start, end, end
    value = _UNQUOTED_VALUE.match(text, start)
    if value is None:
        return None
    return start, value.end(), value.end()


def _mask_pem(text: str) -> str:
    """Mask the body of every PEM private key block (to its END line, or the end of the text)."""
    pieces: list[str] = []
    copied = pos = 0
    while (begin := _PEM_BEGIN.search(text, pos)) is not None:
        end = _PEM_END.search(text, begin.end())
        stop = end.start() if end is not None else len(text)
        pieces.extend((text[copied : begin.end()], REDACTED))
        copied = stop
        pos = end.end() if end is not None else len(text)
    if not pieces:
        return text
    pieces.append(text[copied:])
    return "".join(pieces)


def _mask_userinfo(text: str) -> str:
    """Mask the password of ``scheme://user:password@host`` (up to the authority's last ``@``,
    so ``@`` and ``/`` inside a password are covered) and a user name that is a token, in every
    URL of ``text``, nested ones (``?next=https://user:pw@host/``) included."""
    pieces: list[str] = []
    copied = 0
    for start in _URL_START.finditer(text):
        authority = start.end()
        if authority < copied:
            continue
        found = _URL_END.search(text, authority)
        stop = found.start() if found is not None else len(text)
        region = text[authority:stop]
        cut = min((i for i in (region.find("?"), region.find("#")) if i >= 0), default=len(region))
        at = region.rfind("@", 0, cut)
        if at <= 0:
            continue
        userinfo = region[:at]
        user, colon, password = userinfo.partition(":")
        if colon:
            if not password or password == REDACTED:
                continue
            mask_from = authority + len(user) + 1
        elif _TOKEN_USER.fullmatch(userinfo):
            mask_from = authority
        else:
            continue
        pieces.extend((text[copied:mask_from], REDACTED))
        copied = authority + at
    if not pieces:
        return text
    pieces.append(text[copied:])
    return "".join(pieces)


# Luhn: each digit at an even position from the right counts doubled, less 9 when over 9.
_LUHN_DOUBLED = str.maketrans("0123456789", "0246813579")


def _is_card(digits: str) -> bool:
    """A payment card number: 13 to 19 digits, an issuer's prefix, a valid Luhn check digit."""
    if not 13 <= len(digits) <= 19:
        return False
    if not (digits[0] in "3456" or "2221" <= digits[:4] <= "2720"):
        return False
    reverse = digits[::-1]
    total = sum(map(int, reverse[::2])) + sum(map(int, reverse[1::2].translate(_LUHN_DOUBLED)))
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    """Mask the card number in a run of (grouped) digits: the run may have a neighbouring
    number glued to it by a space (``5 4111 1111 1111 1111 0``), so every run of whole groups
    is tried, the longest first."""
    number = match.group()
    groups = number.replace("-", " ").split(" ")  # one separator at most between digits
    if _is_card("".join(groups)):
        return REDACTED  # the usual case: the whole run is the number
    count = len(groups)
    if count == 1:
        return number
    starts = [0] * (count + 1)  # where each group starts in ``number``, and one past the end
    for index, group in enumerate(groups):
        starts[index + 1] = starts[index] + len(group) + 1
    for first in range(count):
        for last in range(count, first, -1):
            length = starts[last] - starts[first] - (last - first)  # digits, without separators
            if length < 13:
                break
            if length <= 19 and (first or last < count) and _is_card("".join(groups[first:last])):
                return number[: starts[first]] + REDACTED + number[starts[last] - 1 :]
    return number


def _hash_email(match: re.Match[str]) -> str:
    digest = hashlib.sha256(match.group().lower().encode()).hexdigest()[:12]
    return f"[email:{digest}]"


def _truncate_ipv4_match(match: re.Match[str]) -> str:
    octets = match.groups()
    if any(int(o) > 255 for o in octets):
        return match.group()
    return f"{octets[0]}.{octets[1]}.{octets[2]}.0"


def truncate_ip(address: str) -> str:
    """``203.0.113.7`` -> ``203.0.113.0``; ``2001:db8:1:2::1`` -> ``2001:db8:1::``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


_default: Redactor | None = None
_default_source: object | None = None


def get_redactor() -> Redactor:
    """The redactor for the current settings (rebuilt when the settings change)."""
    global _default, _default_source
    try:
        settings: Any = get_settings()
    except Exception:  # noqa: BLE001 - no Django settings (e.g. gunicorn master): use defaults
        settings = None
    if _default is None or settings is not _default_source:
        if settings is None:
            _default = Redactor(DEFAULT_REDACT_KEYS)
        else:
            _default = Redactor(
                settings.redact_keys,
                pii_masking=settings.pii_masking,
                max_value_length=settings.max_value_length,
            )
        _default_source = settings
    return _default


@on_reset
def reset() -> None:
    """Forget the default redactor."""
    global _default, _default_source
    _default = None
    _default_source = None


def is_sensitive_key(key: str) -> bool:
    """True when ``key`` names a secret under the current settings."""
    return get_redactor().is_sensitive_key(key)


def redact_query(query: str) -> str:
    """Mask sensitive parameters of a query string (for ``url.query`` and span attributes)."""
    return get_redactor().redact_query(query)


def redact_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """Mask sensitive headers (Authorization, Cookie, Set-Cookie and sensitive names)."""
    return get_redactor().redact_headers(headers)


def redact_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """Mask sensitive keys in a mapping, recursively."""
    return get_redactor().redact_mapping(data)


def redact_text(text: str) -> str:
    """Mask secrets (and PII when enabled) in free text such as an exception message."""
    return get_redactor().redact_text(text)
