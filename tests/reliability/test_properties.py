"""Property-based tests (hypothesis) of redaction and escaping, the logging package's own functions.

For any input hypothesis can find: escaped values carry no control character, a rendered event
is exactly one line of valid UTF-8 JSON, truncation is bounded, and a secret under a sensitive
key (mapping key, query parameter, ``key=value`` in free text, a bearer credential) never
survives, whatever the case, separators and surrounding words of the key.
"""

from __future__ import annotations

import json
import re
import string
import sys
import unicodedata
from urllib.parse import quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instrumentation.conf import DEFAULT_REDACT_KEYS, Settings
from instrumentation.logging import ecs
from instrumentation.logging.ecs import nest
from instrumentation.logging.pipeline import Pipeline, pipeline_event
from instrumentation.logging.render import render_json
from instrumentation.redaction import REDACTED, Redactor, escape_control, truncate

# Control characters, line and paragraph separators and invisible format characters (bidi
# overrides, zero-width characters): everything escaping must leave out of a value.
_INVISIBLE = "".join(
    re.escape(chr(code))
    for code in range(sys.maxunicode + 1)
    if unicodedata.category(chr(code)) in {"Cc", "Cf", "Zl", "Zp"}
)
CONTROL = re.compile(f"[{_INVISIBLE}]")
REDACTOR = Redactor(DEFAULT_REDACT_KEYS, max_value_length=256)
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Secrets: a recognisable prefix so that a match in the output can only be the secret itself.
secrets_ = st.text(alphabet=string.ascii_letters + string.digits, min_size=6, max_size=40).map(
    lambda s: "zq" + s
)
words = st.sampled_from(sorted(DEFAULT_REDACT_KEYS))
affixes = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=6)
separators = st.sampled_from(["_", "-", ".", " "])
anything = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300)


@st.composite
def sensitive_keys(draw: st.DrawFn) -> str:
    """A redact word with optional prefix and suffix words, in any case and separator style."""
    word = draw(words)
    key = word
    if draw(st.booleans()):
        key = draw(affixes) + draw(separators) + key
    if draw(st.booleans()):
        key = key + draw(separators) + draw(affixes)
    style = draw(st.sampled_from(["lower", "upper", "camel", "as-is"]))
    if style == "upper":
        key = key.upper()
    elif style == "camel":
        parts = re.split(r"[_\-. ]", key)
        key = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    return key


@PROPERTY_SETTINGS
@given(anything)
def test_escaped_values_carry_no_control_characters(value: str) -> None:
    assert not CONTROL.search(escape_control(value))
    kept = set(CONTROL.findall(escape_control(value, multiline=True)))
    assert kept <= {"\n", "\t"}
    if not CONTROL.search(value):
        assert escape_control(value) == value


@PROPERTY_SETTINGS
@given(anything, st.integers(min_value=1, max_value=100))
def test_clean_values_are_bounded_and_escaped(value: str, limit: int) -> None:
    cleaned = REDACTOR.clean(value, limit=limit)
    assert not CONTROL.search(cleaned)
    assert len(cleaned) <= limit + len(truncate("x" * 10**6, 0))
    assert truncate(value, limit) == value or "truncated" in truncate(value, limit)


@PROPERTY_SETTINGS
@given(st.dictionaries(anything, st.one_of(anything, st.integers(), st.none(), st.floats()), max_size=8))
def test_rendered_events_are_one_line_of_valid_json(event: dict[str, object]) -> None:
    line = render_json({"message": "x", "labels": event})
    assert line.endswith(b"\n")
    assert b"\n" not in line[:-1]
    decoded = json.loads(line.decode("utf-8"))  # strict UTF-8: surrogates were repaired
    assert isinstance(decoded, dict)


@PROPERTY_SETTINGS
@given(sensitive_keys(), secrets_)
def test_sensitive_keys_are_masked_in_mappings(key: str, secret: str) -> None:
    assert REDACTOR.is_sensitive_key(key), key
    masked = REDACTOR.redact_mapping({key: secret, "nested": {key: secret}, "fine": "visible"})
    assert secret not in repr(masked)
    assert masked[key] == REDACTED
    assert masked["fine"] == "visible"


@PROPERTY_SETTINGS
@given(
    sensitive_keys(),
    secrets_,
    st.lists(
        st.tuples(
            st.text(alphabet="abcdefghijkmnoquvxyz", min_size=1, max_size=5),
            st.text(alphabet=string.ascii_letters, min_size=1, max_size=20),
        ),
        max_size=5,
    ),
)
def test_sensitive_query_parameters_are_masked(key: str, secret: str, others: list[tuple[str, str]]) -> None:
    plain = [(name, value) for name, value in others if not REDACTOR.is_sensitive_key(name)]
    pairs = [*plain[:2], (key, secret), *plain[2:]]
    query = "&".join(f"{quote_plus(name)}={quote_plus(value)}" for name, value in pairs)
    masked = REDACTOR.redact_query(query)
    assert secret not in masked
    for name, value in plain:
        assert f"{quote_plus(name)}={quote_plus(value)}" in masked


@PROPERTY_SETTINGS
@given(
    sensitive_keys().filter(lambda k: " " not in k and "." not in k),
    secrets_,
    st.sampled_from(["=", ": ", "=", '": "']),
    st.text(alphabet=string.ascii_letters + " .,", max_size=30),
)
def test_secrets_in_free_text_are_masked(key: str, secret: str, separator: str, context: str) -> None:
    text = f"{context} {key}{separator}{secret} {context}"
    assert secret not in REDACTOR.redact_text(text), text
    assert secret not in REDACTOR.redact_text(f"{context} Authorization: Bearer {secret}")


@PROPERTY_SETTINGS
@given(sensitive_keys().filter(lambda k: " " not in k and "." not in k), secrets_, anything)
def test_a_whole_log_event_leaks_no_secret_and_stays_one_line(key: str, secret: str, message: str) -> None:
    pipeline = Pipeline(Settings(max_value_length=256))
    flat = pipeline_event(
        pipeline,
        "warning",
        {
            "event": f"{message} {key}={secret}",
            key: secret,
            "url.query": f"a=1&{quote_plus(key)}={secret}",
            "labels": {key: secret, "note": message},
        },
    )
    line = render_json(nest(flat))
    assert b"\n" not in line[:-1]
    text = line.decode("utf-8")
    assert secret not in text, text
    event = json.loads(text)
    for value in _strings(event):
        assert not CONTROL.search(value.replace("\n", "").replace("\t", "")), value


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("password.confirm=zqhunter22", "password.confirm"),
        ("api_key.primary=zqhunter22", "api_key.primary"),
        ("failed: session.id: zqhunter22", "session.id"),
    ],
)
def test_dotted_keys_in_free_text_are_masked(text: str, key: str) -> None:
    assert REDACTOR.is_sensitive_key(key)
    assert "zqhunter22" not in REDACTOR.redact_text(text)


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


_dotted_parts = st.sampled_from(
    ["a", "b", "http", "request", "@timestamp", "", "x'y", '"', "\\", "}", "{v0}"]
)
dotted_keys = st.lists(_dotted_parts, min_size=1, max_size=4).map(".".join)


@PROPERTY_SETTINGS
@given(st.dictionaries(st.one_of(dotted_keys, anything), st.one_of(st.integers(), anything), max_size=12))
def test_nesting_by_shape_equals_nesting_key_by_key(flat: dict[str, object]) -> None:
    # The compiled builder of a shape (made once per key order) and the general path give the
    # same event, key order included, for any keys: objects and leaves on one path, repeated
    # dots, quotes and braces that would break generated code if they reached it unquoted.
    expected = ecs._nest_each(flat)
    for _ in range(2):  # compiled on first sight, from the cache next
        nested = nest(dict(flat))
        assert nested == expected
        assert json.dumps(nested) == json.dumps(expected)
