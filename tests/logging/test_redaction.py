"""Redaction and hygiene: examples, properties (hypothesis) and a request full of secrets."""

from __future__ import annotations

import json
import logging
import string
from typing import Any
from urllib.parse import quote_plus

import pytest
import structlog
from django.test import Client
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from instrumentation import redaction
from instrumentation.conf import DEFAULT_REDACT_KEYS
from instrumentation.logging.render import render_json
from instrumentation.logging.testing import CapturedLogs
from instrumentation.redaction import REDACTED, Redactor, escape_control
from instrumentation.tracing.testing import capture_spans

REDACTOR = Redactor(DEFAULT_REDACT_KEYS, max_value_length=100)
SECRETS = st.text(alphabet=string.ascii_letters + string.digits + "-_.~", min_size=8, max_size=40)
SENSITIVE_KEYS = st.sampled_from(
    [
        "password",
        "token",
        "access_token",
        "api_key",
        "X-Api-Key",
        "sessionid",
        "csrfmiddlewaretoken",
        "client_secret",
        "Authorization",
        "refreshToken",
        "user_password",
        "PASSWORD",
    ]
)


@pytest.mark.parametrize(
    ("key", "sensitive"),
    [
        ("password", True),
        ("Password", True),
        ("new_password", True),
        ("passwordConfirm", True),
        ("HTTP_AUTHORIZATION", True),
        ("Authorization", True),
        ("Cookie", True),
        ("Set-Cookie", True),
        ("HTTP_COOKIE", True),
        ("x-api-key", True),
        ("csrfmiddlewaretoken", True),
        ("sessionid", True),
        ("access_token", True),
        ("author", False),
        ("tokens_used", False),
        ("session_count", True),  # a whole word matches: over-redacting is the safe side
        ("page_count", False),
        ("page", False),
        ("user.id", False),
        ("url.query", False),
    ],
)
def test_sensitive_keys(key: str, sensitive: bool) -> None:
    assert REDACTOR.is_sensitive_key(key) is sensitive


def test_query_string() -> None:
    assert (
        REDACTOR.redact_query("q=shoes&password=hunter2&token=abc&page=2&api%5Fkey=k")
        == f"q=shoes&password={REDACTED}&token={REDACTED}&page=2&api%5Fkey={REDACTED}"
    )
    assert REDACTOR.redact_query("") == ""
    assert REDACTOR.redact_query("flag&x=1") == "flag&x=1"


def test_query_inside_a_query_value() -> None:
    redacted = REDACTOR.redact_query("next=/shop/account/%3Fpassword%3Dhunter2%26token%3Dabc%26page%3D2&x=1")
    assert "hunter2" not in redacted
    assert "abc" not in redacted
    assert (
        redacted == "next=/shop/account/%3Fpassword%3D%5BREDACTED%5D%26token%3D%5BREDACTED%5D%26page%3D2&x=1"
    )
    assert REDACTOR.redact_query("next=/a/%3Fpage%3D2") == "next=/a/%3Fpage%3D2"


def test_headers_always_mask_credentials() -> None:
    masked = Redactor(()).redact_headers(
        {"Authorization": "Bearer x", "Cookie": "sessionid=1", "Set-Cookie": "a=b", "Accept": "*/*"}
    )
    assert masked == {"Authorization": REDACTED, "Cookie": REDACTED, "Set-Cookie": REDACTED, "Accept": "*/*"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("login failed password=hunter2 for bob", f"login failed password={REDACTED} for bob"),
        ('{"token": "abc123", "n": 1}', f'{{"token": "{REDACTED}", "n": 1}}'),
        ("Authorization: Bearer abc.def.ghi", f"Authorization: {REDACTED}"),
        ("sent Bearer abcdefgh to upstream", f"sent Bearer {REDACTED} to upstream"),
        ("url /x?page=1&secret=s3 failed", f"url /x?page=1&secret={REDACTED} failed"),
        ("tokens_used=5", "tokens_used=5"),
        ("nothing to see", "nothing to see"),
    ],
)
def test_free_text(text: str, expected: str) -> None:
    assert REDACTOR.redact_text(text) == expected


def test_url_credentials() -> None:
    assert REDACTOR.redact_url("https://bob:pw@example.com/a?token=t&x=1") == (
        f"https://bob:{REDACTED}@example.com/a?token={REDACTED}&x=1"
    )


def test_nested_mapping() -> None:
    data = {"user": {"name": "bob", "password": "p"}, "items": [{"api_key": "k"}], "n": 1}
    assert REDACTOR.redact_mapping(data) == {
        "user": {"name": "bob", "password": REDACTED},
        "items": [{"api_key": REDACTED}],
        "n": 1,
    }


def test_control_characters_and_truncation() -> None:
    assert escape_control("a\nb\x1b[31mc\x00\x85") == "a\\nb\\x1b[31mc\\x00\\x85"
    assert escape_control("line1\nline2\tx\x07", multiline=True) == "line1\nline2\tx\\x07"
    cleaned = REDACTOR.clean("x" * 250)
    assert cleaned == "x" * 100 + "...[truncated 150 chars]"


def test_configurable_keys() -> None:
    custom = Redactor(["ssn"])
    assert custom.redact_query("ssn=123&password=p") == f"ssn={REDACTED}&password=p"


# --- properties ----------------------------------------------------------------------------------


@given(key=SENSITIVE_KEYS, secret=SECRETS, other=st.text(alphabet=string.ascii_lowercase, max_size=10))
def test_property_secret_query_values_never_survive(key: str, secret: str, other: str) -> None:
    query = f"a={other}&{quote_plus(key)}={quote_plus(secret)}&b=1"
    redacted = REDACTOR.redact_query(query)
    assume(secret not in f"a={other}&{quote_plus(key)}={REDACTED}&b=1")
    assert secret not in redacted


@given(key=SENSITIVE_KEYS, secret=SECRETS, sep=st.sampled_from(["=", ": ", " = ", '": "', "="]))
def test_property_secret_in_text_never_survives(key: str, secret: str, sep: str) -> None:
    text = f"request failed with {key}{sep}{secret} and more"
    assume(secret not in f"request failed with {key}{sep}{REDACTED} and more")
    assert secret not in REDACTOR.redact_text(text)


@given(key=SENSITIVE_KEYS, secret=SECRETS)
def test_property_secret_under_a_key_never_survives(key: str, secret: str) -> None:
    out = REDACTOR.redact_mapping({"outer": {key: secret}, key: [secret]})
    assert secret not in json.dumps(out)


@given(st.text())
def test_property_escaped_values_have_no_control_characters(value: str) -> None:
    escaped = escape_control(value)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in escaped)


@given(st.text(), st.integers(min_value=1, max_value=200))
def test_property_truncation_bounds_length(value: str, limit: int) -> None:
    out = Redactor((), max_value_length=limit).clean(value)
    escaped = escape_control(value)
    assert len(out) <= limit + len("...[truncated  chars]") + len(str(len(escaped)))
    assert out == escaped or out.startswith(escaped[:limit])


# Text including lone surrogates: what undecodable bytes become under surrogateescape.
HOSTILE_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=300) | st.binary(
    max_size=200
).map(lambda b: b.decode("utf-8", "surrogateescape"))


@given(value=HOSTILE_TEXT)
def test_property_render_is_always_one_json_line(value: str) -> None:
    data = render_json({"message": value, "labels": {value[:20] or "k": value}, "n": 2**70})
    assert data.endswith(b"\n")
    assert data.count(b"\n") == 1
    json.loads(data)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60, deadline=None)
@given(value=HOSTILE_TEXT)
@example(value="\u2028")  # a line separator to Python's splitlines and to some log tools
@example(value="a\u2029b\x85c")
def test_property_every_logged_value_yields_one_valid_line(logs: CapturedLogs, value: str) -> None:
    logs.clear()
    logging.getLogger("hostile").warning("got %s", value, extra={"field": value})
    structlog.get_logger("hostile").info(value, other=value)
    raw = logs.raw_lines()
    assert len(raw) == 2
    for line in raw:
        parsed = json.loads(line)
        assert not any(
            ord(c) < 0x20 for c in parsed["labels"].get("field", parsed["labels"].get("other", ""))
        )


# --- end to end: a request full of secrets ------------------------------------------------------------

SECRET_BEARER = "Zm9vYmFyYmF6cXV4-bearer-secret"
SECRET_SESSION = "sess-0123456789abcdef"
SECRET_PASSWORD = "hunter2-password-secret"
SECRET_TOKEN = "tok-9f8e7d6c5b4a"


@pytest.mark.parametrize("path", ["/ok/", "/boom/", "/missing/", "/nowhere/"])
def test_no_secret_reaches_logs_or_spans(logs: CapturedLogs, path: str) -> None:
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = SECRET_SESSION
    with capture_spans() as spans:
        client.get(
            f"{path}?password={SECRET_PASSWORD}&token={SECRET_TOKEN}&q=ok",
            HTTP_AUTHORIZATION=f"Bearer {SECRET_BEARER}",
        )
        logging.getLogger("app").error("upstream said token=%s", SECRET_TOKEN)
    text = logs.text
    assert logs.access(), text
    spans_text = repr(
        [
            (s.name, dict(s.attributes or {}), [e.attributes for e in s.events])
            for s in spans.get_finished_spans()
        ]
    )
    for secret in (SECRET_BEARER, SECRET_SESSION, SECRET_PASSWORD, SECRET_TOKEN):
        assert secret not in text
        assert secret not in spans_text
    (access,) = logs.access()
    assert access["url"]["query"] == f"password={REDACTED}&token={REDACTED}&q=ok"


def test_exception_messages_are_redacted(logs: CapturedLogs) -> None:
    try:
        raise RuntimeError(f"cannot connect: password={SECRET_PASSWORD}")
    except RuntimeError:
        structlog.get_logger("db").exception("connect failed")
    (line,) = logs.lines()
    assert SECRET_PASSWORD not in json.dumps(line)
    assert line["error"]["message"] == f"cannot connect: password={REDACTED}"


def test_module_helpers_follow_settings(configure_logs: Any) -> None:
    configure_logs(REDACT_KEYS=["color"])
    assert redaction.redact_query("color=red&password=x") == f"color={REDACTED}&password=x"
    assert redaction.is_sensitive_key("color")


@pytest.mark.parametrize("key", DEFAULT_REDACT_KEYS)
def test_every_default_key_is_found_in_free_text_whatever_its_case(key: str) -> None:
    secret = "s3cr3tValue42"
    for shown in (key, key.upper(), key.title()):
        text = f"call failed with {shown}={secret} retrying"
        assert secret not in REDACTOR.redact_text(text), text


@pytest.mark.parametrize("scheme", ["Bearer", "basic", "TOKEN", "Digest"])
def test_credentials_after_a_scheme_word_are_masked(scheme: str) -> None:
    assert "abcd1234efgh" not in REDACTOR.redact_text(f"upstream said: {scheme} abcd1234efgh")


def test_text_without_any_trigger_word_comes_back_unchanged() -> None:
    text = "GET /shop/products/42/ from 203.0.113.7 took 12 ms"
    assert REDACTOR.redact_text(text) is text


@given(st.text(max_size=150) | st.builds(lambda k, s: f"{k}={s}", SENSITIVE_KEYS, SECRETS))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_the_shortcut_for_plain_values_gives_what_redacting_and_cleaning_gives(value: str) -> None:
    for redactor in (REDACTOR, Redactor(DEFAULT_REDACT_KEYS, pii_masking=True, max_value_length=100)):
        assert redactor.redact_and_clean(value) == redactor.clean(redactor.redact_text(value))


# --- hostile and awkward input ------------------------------------------------------------------

FULL = Redactor(DEFAULT_REDACT_KEYS)


@pytest.mark.parametrize("text", ["token." * 2000, "password-" * 2000, "api key " * 2000, "x" * 20000])
def test_free_text_redaction_does_not_backtrack(text: str) -> None:
    """A run of key-like words with no separator once took cubic time (a 2 KB URL path: seconds of
    CPU per request). Linear now: 12-20 KB finish at once; the old pattern needed many minutes."""
    import threading

    done = threading.Event()
    thread = threading.Thread(target=lambda: (FULL.redact_text(text), done.set()), daemon=True)
    thread.start()
    assert done.wait(30), "free-text redaction backtracks catastrophically"


def test_a_hostile_path_is_answered_like_any_404(logs: CapturedLogs) -> None:
    with capture_spans():
        response = Client().get("/" + "token." * 400)
    assert response.status_code == 404
    assert all(len(line.get("message", "")) < 8000 for line in logs.lines())


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"password": "correct horse battery staple"}', "horse"),
        ("password: 'two words'", "words"),
        ("connect to postgres://admin:S3cretPW@db:5432/app failed", "S3cretPW"),
        ("GET https://user:hunter2@example.com/path", "hunter2"),
    ],
)
def test_quoted_values_and_url_credentials_in_free_text(text: str, secret: str) -> None:
    redacted = FULL.redact_text(text)
    assert secret not in redacted
    assert REDACTED in redacted
    assert FULL.redact_and_clean(text) == redacted


def test_secrets_inside_nested_values_bytes_and_objects(logs: CapturedLogs) -> None:
    class Shows:
        def __str__(self) -> str:
            return "password=from-str"

    logging.getLogger("shop.api").info(
        "calls",
        extra={
            "cmd": ["-H", "Authorization: Bearer tok-in-list"],
            "labels": {"note": "secret=in-labels"},
            "body": b"password=in-bytes",
            "thing": Shows(),
            "dsn": "postgres://admin:in-dsn@db/app",
        },
    )
    structlog.get_logger("shop.api").info("more", payload={"deep": [{"text": "token=in-deep-list"}]})
    text = "\n".join(json.dumps(line) for line in logs.by_logger("shop.api"))
    for secret in ("tok-in-list", "in-labels", "in-bytes", "from-str", "in-dsn", "in-deep-list"):
        assert secret not in text, secret


def test_sizes_are_bounded(logs: CapturedLogs) -> None:
    logging.getLogger("shop.api").info(
        "big",
        extra={"numbers": list(range(200_000)), "k" * 100_000: 1, "k\n\x1bey": 2, "huge": "y" * 10_000_000},
    )
    (raw,) = [line for line in logs.raw_lines() if '"shop.api"' in line]
    assert len(raw) < 64_000
    (line,) = logs.by_logger("shop.api")
    labels = line["labels"]
    assert len(labels["numbers"]) == redaction.MAX_ITEMS + 1
    assert labels["numbers"][-1] == f"[{200_000 - redaction.MAX_ITEMS} more items]"
    assert all(len(key) <= redaction.MAX_KEY_LENGTH + 40 for key in labels)
    assert all(key.isprintable() for key in labels)
    assert "chars truncated" in labels["huge"] or "truncated" in labels["huge"]


def test_span_exception_events_redact_before_they_cut() -> None:
    from instrumentation.tracing.spans import MAX_MESSAGE, exception_attributes

    try:
        raise RuntimeError("password=HUNTERSECRET " + "y" * 8170)
    except RuntimeError as exc:
        attributes = exception_attributes(exc)
    assert "HUNTERSECRET" not in attributes["exception.message"]
    assert "HUNTERSECRET" not in attributes["exception.stacktrace"]
    assert "RuntimeError" in attributes["exception.stacktrace"]
    big = exception_attributes(RuntimeError("x" * 5_000_000))
    assert len(big["exception.message"]) <= MAX_MESSAGE
    assert len(big["exception.stacktrace"]) <= 8192


def test_application_spans_get_the_same_exception_redaction() -> None:
    """Spans the application makes itself (``tracer.start_as_current_span``) go through the SDK,
    which records the raw message; the export path redacts them like the project's own spans."""
    from opentelemetry import trace

    with capture_spans() as exporter:
        tracer = trace.get_tracer("shop.payments")
        with pytest.raises(RuntimeError), tracer.start_as_current_span("charge"):
            raise RuntimeError("api_key=K-SECRET-1 and postgres://u:DSN-SECRET@db/x " + "y" * 9000)
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "charge"]
    (event,) = span.events
    exported = json.dumps({**dict(event.attributes or {}), "status": span.status.description})
    assert "K-SECRET-1" not in exported
    assert "DSN-SECRET" not in exported
    assert len(str((event.attributes or {})["exception.message"])) <= 4096


# --- the shapes Django and its ecosystem really print -------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "password1",
        "password2",
        "new_password1",
        "new_password2",
        "old_password",
        "passwords",
        "tokens",
        "secrets",
        "credentials",
        "api_keys",
        "cookies",
        "secret_2",
        "privatekey",
        "PHPSESSID",
        "connect.sid",
        "sig",
        "X-Amz-Signature",
        "X-Amz-Credential",
        "X-Amz-Security-Token",
        "AWSAccessKeyId",
        "aws_secret_access_key",
        "cvv",
    ],
)
def test_django_and_common_framework_field_names_are_sensitive(key: str) -> None:
    assert FULL.is_sensitive_key(key)
    assert "s3cr3tValue42" not in FULL.redact_text(f"form {key}=s3cr3tValue42 posted")


@pytest.mark.parametrize(
    "key", ["tokens_used", "author", "design", "signed_up", "page_count", "sessions_total"]
)
def test_words_that_only_look_sensitive_are_kept(key: str) -> None:
    assert not FULL.is_sensitive_key(key)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "login attempt <QueryDict: {'username': ['bob'], 'password': ['hunter2']}>",
            f"login attempt <QueryDict: {{'username': ['bob'], 'password': {REDACTED}}}>",
        ),
        ("{'password': ['hunter2', 'again']}", f"{{'password': {REDACTED}}}"),
        ('{"password": "hun\\"ter2", "n": 1}', f'{{"password": "{REDACTED}", "n": 1}}'),
        (
            '{\\"password\\": \\"hun\\\\\\"ter2\\", \\"n\\": 1}',
            f'{{\\"password\\": \\"{REDACTED}\\", \\"n\\": 1}}',
        ),
        ("postgres://user:hun@ter2@db/x", f"postgres://user:{REDACTED}@db/x"),
        ("amqp://guest:pa/ss@host//", f"amqp://guest:{REDACTED}@host//"),
        (
            "clone https://ghp_xxx@github.com/org/repo.git",
            f"clone https://{REDACTED}@github.com/org/repo.git",
        ),
        ("GET /login/?next=https://user:pw@host/ 302", f"GET /login/?next=https://user:{REDACTED}@host/ 302"),
        ("redis://:s3cret@cache:6379/0", f"redis://:{REDACTED}@cache:6379/0"),
        ("[('password', 'x'), ('user', 'bob')]", f"[('password', '{REDACTED}'), ('user', 'bob')]"),
        ("run --password hunter2 --user bob", f"run --password {REDACTED} --user bob"),
        ("errors={'new_password2': ['too common']}", f"errors={{'new_password2': {REDACTED}}}"),
        ("Set-Cookie: sessionid=abc; Path=/", f"Set-Cookie: {REDACTED}; Path=/"),
        ("Cookie: PHPSESSID=abc; connect.sid=s%3Axyz", f"Cookie: {REDACTED}; connect.sid={REDACTED}"),
        ("password=", "password="),
        ('password=""', 'password=""'),
    ],
)
def test_values_are_masked_to_their_real_end(text: str, expected: str) -> None:
    assert FULL.redact_text(text) == expected


def test_a_service_account_private_key_is_masked_whole() -> None:
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" * 60  # a 2 KB key body, far past any fixed limit
    pem = "-----BEGIN PRIVATE KEY-----\\n" + "\\n".join([body[:64]] * 30) + "\\n-----END PRIVATE KEY-----\\n"
    document = json.dumps({"type": "service_account", "private_key": pem.replace("\\n", "\n")})
    redacted = FULL.redact_text(document)
    assert "MIIEvQ" not in redacted
    assert json.loads(redacted)["private_key"] == REDACTED
    # Without a key, on several lines, as a library prints it.
    loose = "loaded key:\n-----BEGIN RSA PRIVATE KEY-----\n" + body + "\n-----END RSA PRIVATE KEY-----\ndone"
    assert "MIIEvQ" not in FULL.redact_text(loose)
    assert FULL.redact_text(loose).endswith("-----END RSA PRIVATE KEY-----\ndone")


@pytest.mark.parametrize(
    "secret",
    [
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ",
        "sk_live_" + "51HqLyjWDarjtT1zdp7dc",
        "rk_live_" + "51HqLyjWDarjtT1zdp7dc",
        "AKIAIOSFODNN7EXAMPLE",
        "4111 1111 1111 1111",
        "5500-0000-0000-0004",
        "378282246310005",
    ],
)
def test_credentials_recognisable_without_a_key(secret: str) -> None:
    redacted = FULL.redact_text(f"upstream rejected {secret}, retrying")
    assert secret not in redacted
    assert redacted == f"upstream rejected {REDACTED}, retrying"


@pytest.mark.parametrize(
    "number", ["4111 1111 1111 1112", "1700000000123", "2024-01-01 12:00:00", "20240101120000123"]
)
def test_numbers_that_are_not_cards_are_kept(number: str) -> None:
    assert FULL.redact_text(f"order {number} shipped") == f"order {number} shipped"


def test_structures_mask_by_key_and_pair() -> None:
    from django.http import QueryDict
    from django.utils.datastructures import MultiValueDict

    post = QueryDict("username=bob&password=hunter2&password=again&next=/a/")
    assert REDACTOR.redact_value(post) == {
        "username": ["bob"],
        "password": REDACTED,
        "next": ["/a/"],
    }
    files = MultiValueDict({"tokens": ["t1", "t2"], "tag": ["a", "b"]})
    assert REDACTOR.redact_value(files) == {"tokens": REDACTED, "tag": ["a", "b"]}
    pairs = [("password", "hunter2"), ("user", "bob")]
    assert REDACTOR.redact_value(pairs) == [["password", REDACTED], ["user", "bob"]]
    assert REDACTOR.redact_value({"n": 4111111111111111, "m": 42}) == {"n": REDACTED, "m": 42}


def test_query_values_holding_a_url_with_credentials() -> None:
    redacted = REDACTOR.redact_query("next=https%3A%2F%2Fuser%3Apw-secret%40host%2F&x=1")
    assert "pw-secret" not in redacted
    assert redacted.endswith("&x=1")
    redacted = REDACTOR.redact_query("next=https://user:pw-secret@host/&x=1")
    assert "pw-secret" not in redacted


def test_url_fields_mask_at_signs_in_passwords() -> None:
    assert REDACTOR.redact_url("postgres://u:p@ss@db/x?sslmode=require") == (
        f"postgres://u:{REDACTED}@db/x?sslmode=require"
    )
    url = "https://bucket.s3.amazonaws.com/k?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101&X-Amz-Signature=abcdef0123"
    redacted = REDACTOR.redact_url(url)
    assert "abcdef0123" not in redacted
    assert "AKIAIOSFODNN7EXAMPLE" not in redacted


@pytest.mark.parametrize(
    "char", ["\u202e", "\u202a", "\u200b", "\u200d", "\u2066", "\u2069", "\ufeff", "\u00ad", "\U000e0041"]
)
def test_invisible_format_characters_are_escaped(char: str) -> None:
    escaped = escape_control(f"admin{char}txt.exe")
    assert char not in escaped
    assert escaped == "admin" + char.encode("unicode_escape").decode("ascii") + "txt.exe"
    assert char not in escape_control(f"a{char}b\nc", multiline=True)
    # A field that skipped the pipeline's escaping is caught when the line is rendered.
    line = render_json({"log": {"logger": f"app{char}"}, "message": "ok"})
    assert char.encode() not in line
    assert json.loads(line)["log"]["logger"] == "app" + char.encode("unicode_escape").decode("ascii")


def test_every_format_character_unicode_knows_is_escaped() -> None:
    import sys
    import unicodedata

    missed = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) == "Cf" and escape_control(chr(code)) == chr(code)
    ]
    assert missed == []


def test_bidi_override_in_a_request_path_reaches_no_field_raw(logs: CapturedLogs) -> None:
    with capture_spans():
        Client().get("/ok/\u202egpj.exe", HTTP_USER_AGENT="agent\u2066x")
    (access,) = logs.access()
    assert "\u202e" not in logs.text
    assert "\u2066" not in logs.text
    assert access["url"]["path"] == "/ok/\\u202egpj.exe"
