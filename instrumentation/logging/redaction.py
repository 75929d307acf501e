"""Redaction and hygiene: what every value goes through before it leaves the process.

Three concerns, applied in this order by the log pipeline (and reusable by the tracing package
for span attributes):

1. **Secrets.** A key (mapping key, header name, query parameter, form field) is *sensitive* when
   one of its words is one of ``redact_keys`` (``password``, ``token``, ``session``, ...), or it
   ends with one (``csrfmiddlewaretoken``). Sensitive values become :data:`REDACTED`. Free text
   (messages, exception messages) is scanned for ``key=value`` / ``key: value`` pairs with a
   sensitive key and for ``Bearer``/``Basic`` credentials. The ``Authorization``, ``Cookie`` and
   ``Set-Cookie`` headers are always masked whatever ``redact_keys`` says.
2. **Personal data** (optional, ``PII_MASKING``): e-mail addresses in text are replaced by a
   short hash of the address, IP addresses are truncated (IPv4 to /24, IPv6 to /48).
3. **Hygiene.** Control characters (C0, DEL, C1, which include ANSI escapes and newlines) in
   values are escaped as ``\\xNN`` / ``\\n`` so one event stays one line in any viewer, and
   values longer than ``max_value_length`` are cut with a :data:`TRUNCATED` marker. Multi-line
   text fields (message, error message, stack trace) keep their newlines and tabs: JSON encodes
   them, so the line stays one line.

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

# C0 controls, DEL, C1 controls (ESC starts ANSI sequences; U+0085 is a newline to some tools)
# and the Unicode line and paragraph separators (newlines to others, Python's splitlines too).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The same without newline and tab, for multi-line text fields.
_CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_KEY_SEPARATORS = re.compile(r"[^a-z0-9]+")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SCHEMES = ("bearer", "basic", "token", "digest")
_CREDENTIAL_SCHEME = re.compile(r"(?i)\b(" + "|".join(_SCHEMES) + r")(\s+)[A-Za-z0-9\-._~+/=:]{4,}")
# scheme://user:password@host in free text (a DSN in an exception message, a URL in a log call).
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,31}://[^\s/:@]{0,256}:)[^\s/@]{1,512}+@")
_URL_MARK = "://"
_KEY_CACHE_LIMIT = 4096
#: Items of a list, or keys of a mapping, a log value keeps (a huge structure would make a line
#: of megabytes); the rest is counted in a marker.
MAX_ITEMS = 100
#: Longest key of a logged mapping.
MAX_KEY_LENGTH = 256
#: Text scanned for secrets beyond what is kept: ``SCAN_FACTOR`` x the kept length, cut at the
#: end (so a key keeps what is left of its value); the rest only counts in the truncation marker.
SCAN_FACTOR = 4


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


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
        self.redact_keys = tuple(words)
        self.pii_masking = pii_masking
        self.max_value_length = max_value_length
        self._key_cache: dict[str, bool] = {}
        if words:
            alternatives = "|".join(re.escape(w) for w in words)
            self._key_pattern: re.Pattern[str] | None = re.compile(
                rf"(?:^|_)(?:{alternatives})(?:_|$)|(?:{alternatives})$"
            )
            # key=value, key: value, "key": "value" inside free text. Linear time whatever the
            # text: a key starts only where a run of key characters starts, and the atomic group
            # and possessive quantifiers never retry a run that is not followed by a separator.
            text_alternatives = "|".join(re.escape(w).replace("_", "[-_ ]?") for w in words)
            self._text_pattern: re.Pattern[str] | None = re.compile(
                rf"""(?ix)
                (?<![\w.-])
                (?P<key>(?>[\w.-]*?(?:{text_alternatives}))[\w.-]*+) # a sensitive key (dotted too)
                (?P<sep>["']?\s*+(?:[=:]|%3[dD])\s*+["']?)          # = : or %3D, possibly quoted
                (?P<value>
                  (?<=["'])[^"'\r\n]{{1,512}}+(?=["'])              # a quoted value, spaces and all
                | (?:(?:bearer|basic|token|digest)\s++)?             # or an optional credential scheme
                  (?:(?!%26|%2[cC])[^\s&,;"'}})\]])++                # and the value up to a delimiter
                )
                """
            )
        else:
            self._key_pattern = None
            self._text_pattern = None
        # Cheap substring tests run before the (much slower) text patterns: a sensitive pair
        # needs one of these words in the lower-cased text, a credential one of the schemes.
        heads = {w.split("_")[0] for w in words if w.split("_")[0]}
        self._prefilter = tuple(sorted(heads))
        # Most values hold none of them: one scan for all (a word containing another is found
        # by the shorter one) tells so.
        triggers = heads | set(_SCHEMES) | {_URL_MARK}
        triggers = {t for t in triggers if not any(o != t and o in t for o in triggers)}
        self._suspect = re.compile("|".join(re.escape(t) for t in sorted(triggers)))

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
            elif "%3d" in value.lower() or "=" in value:
                # A URL or query inside a value (``?next=/account/%3Fpassword%3D...``).
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
            head = re.sub(r"(//[^/:@]*:)[^/@]*@", rf"\g<1>{REDACTED}@", head)
        return head + sep + self.redact_query(query) if sep else head

    def redact_headers(self, headers: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``headers`` with sensitive ones masked (works with WSGI ``HTTP_*`` keys too)."""
        return {name: REDACTED if self.is_sensitive_key(name) else value for name, value in headers.items()}

    def redact_mapping(self, data: Mapping[str, Any], *, _depth: int = 0) -> dict[str, Any]:
        """A copy of ``data`` with sensitive keys masked, recursively (depth- and size-limited)."""
        result: dict[str, Any] = {}
        for index, (key, value) in enumerate(data.items()):
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
        if value is None or isinstance(value, bool | int | float):
            return value
        if _depth > 8:
            return self.redact_and_clean(safe_str(value, repr))
        if isinstance(value, Mapping):
            return self.redact_mapping(value, _depth=_depth)
        if isinstance(value, list | tuple | set | frozenset):
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
        """Mask ``key=value`` secrets and credentials in free text (and PII when enabled)."""
        lower = text.lower()
        if self._suspect.search(lower) is not None:
            if self._text_pattern is not None and any(word in lower for word in self._prefilter):
                text = self._text_pattern.sub(self._mask_pair, text)
            if any(scheme in lower for scheme in _SCHEMES):
                text = _CREDENTIAL_SCHEME.sub(rf"\g<1>\g<2>{REDACTED}", text)
            if _URL_MARK in lower and "@" in text:
                text = _URL_USERINFO.sub(rf"\g<1>{REDACTED}@", text)
        if self.pii_masking:
            text = self.mask_pii(text)
        return text

    def _mask_pair(self, match: re.Match[str]) -> str:
        if match.group("value").startswith(REDACTED[:-1]) or not self.is_sensitive_key(match.group("key")):
            return match.group()
        return f"{match.group('key')}{match.group('sep')}{REDACTED}"

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
        """``clean(redact_text(value))``, returned at once for the usual value that needs neither."""
        if (
            len(value) <= self.max_value_length
            and not self.pii_masking
            and value.isprintable()
            and self._suspect.search(value.lower()) is None
        ):
            return value
        return self._redact_bounded(value, multiline=False, limit=self.max_value_length)

    def clean_text(self, value: str, *, limit: int | None = None) -> str:
        """Redact secrets in free text, then clean it keeping newlines."""
        return self._redact_bounded(
            value, multiline=True, limit=self.max_value_length if limit is None else limit
        )

    def _redact_bounded(self, value: str, *, multiline: bool, limit: int) -> str:
        """``clean(redact_text(value))`` that scans at most ``SCAN_FACTOR`` x ``limit`` characters."""
        scanned = limit * SCAN_FACTOR
        if len(value) <= scanned:
            return self.clean(self.redact_text(value), multiline=multiline, limit=limit)
        text = escape_control(self.redact_text(value[:scanned]), multiline=multiline)
        return text[:limit] + TRUNCATED.format(len(text) - limit + len(value) - scanned)


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
        from instrumentation.conf import get_settings

        settings: Any = get_settings()
    except Exception:  # noqa: BLE001 - no Django settings (e.g. gunicorn master): use defaults
        settings = None
    if _default is None or settings is not _default_source:
        if settings is None:
            from instrumentation.conf import DEFAULT_REDACT_KEYS

            _default = Redactor(DEFAULT_REDACT_KEYS)
        else:
            _default = Redactor(
                settings.redact_keys,
                pii_masking=settings.pii_masking,
                max_value_length=settings.max_value_length,
            )
        _default_source = settings
    return _default


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
