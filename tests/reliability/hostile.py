"""Hostile HTTP requests, built as raw bytes so nothing in a client library cleans them up.

:func:`hostile_requests` yields ``(kind, raw)`` pairs from a seeded generator: random and very
long paths, unknown and lowercase methods, malformed, oversized and hostile ``traceparent``,
``tracestate`` and ``baggage``, invalid ``X-Request-ID``\\s, header values with folded
newlines, bare carriage returns, control and ANSI characters and invalid UTF-8, huge query
strings, bad ``Host`` headers. :func:`send` writes one to a socket and parses the answer.
"""

from __future__ import annotations

import random
import re
import socket
import string
from collections.abc import Iterator
from dataclasses import dataclass

VALID_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
VALID_TRACEPARENT = f"00-{VALID_TRACE_ID}-00f067aa0ba902b7-01"
ROUTES = (
    b"/shop/products/",
    b"/shop/products/1/",
    b"/shop/products/2/",
    b"/shop/categories/summary/",
    b"/shop/orders/7/",
    b"/healthz",
    b"/",
    b"/accounts/login/",
    b"/admin/",
)
ANSI = ("\x1b[31m", "\x1b[2J", "\x1b]0;pwned\x07", "\x1b[1;32mOK\x1b[0m")
KINDS = (
    "path",
    "long-path",
    "method",
    "traceparent",
    "tracestate",
    "baggage",
    "request-id",
    "folded-header",
    "control-chars",
    "invalid-utf8",
    "query",
    "host",
)


@dataclass(frozen=True)
class Answer:
    status: int | None
    headers: dict[str, str]
    body: bytes


def _pct(data: bytes) -> bytes:
    return b"".join(b"%%%02X" % byte for byte in data)


def _random_path(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randint(1, 6)):
        choice = rng.random()
        if choice < 0.3:
            parts.append(
                "".join(
                    rng.choices(string.ascii_letters + string.digits + "-._~", k=rng.randint(1, 20))
                ).encode()
            )
        elif choice < 0.5:
            parts.append(_pct(rng.choice(ANSI).encode()))
        elif choice < 0.7:
            parts.append(_pct(bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))))
        elif choice < 0.85:
            parts.append(_pct("\n\r\t\x00\u2028\u202e".encode()))
        else:
            parts.append(_pct("ünïcødé-日本-🙂".encode()))
    prefix = rng.choice((b"", b"/shop", b"/shop/products", b"/admin", b"/metrics"))
    return prefix + b"/" + b"/".join(parts)


def _traceparent(rng: random.Random) -> tuple[str, bytes]:
    variants = [
        b"",
        b"garbage",
        b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01",
        b"ff-" + VALID_TRACE_ID.encode() + b"-00f067aa0ba902b7-01",
        b"00-" + VALID_TRACE_ID.upper().encode() + b"-00F067AA0BA902B7-01",
        b"00-" + VALID_TRACE_ID.encode() + b"-00f067aa0ba902b7-01-extra",
        b"00-" + VALID_TRACE_ID.encode()[:31] + b"-00f067aa0ba902b7-01",
        VALID_TRACEPARENT.encode() + b"," + VALID_TRACEPARENT.encode(),
        b"00-" + b"a" * 5000 + b"-00f067aa0ba902b7-01",
        b"00-\xff\xfe" + VALID_TRACE_ID.encode()[2:] + b"-00f067aa0ba902b7-01",
        b"00-" + VALID_TRACE_ID.encode() + b"-00f067aa0ba902b7-zz",
    ]
    return "traceparent", rng.choice(variants)


def _tracestate(rng: random.Random) -> tuple[str, bytes]:
    variants = [
        b",".join(b"k%d=v%d" % (i, i) for i in range(200)),
        b"vendor=" + b"x" * 9000,
        b"=,=,==,",
        b"UPPER=case,\xff=\xfe",
        b"a=b;c=d," * 50,
    ]
    return "tracestate", rng.choice(variants)


def _baggage(rng: random.Random) -> tuple[str, bytes]:
    variants = [
        b",".join(b"k%d=v%d" % (i, i) for i in range(500)),
        b"user=" + b"y" * 9000,
        b"k=%ZZ%%%,=,;;;",
        b"key=value;prop=1;prop2,other=\xc3\x28",
        b"password=hunter2,token=abc",
    ]
    return "baggage", rng.choice(variants)


def _request_id(rng: random.Random) -> bytes:
    variants = [
        b"x" * 5000,
        b"has spaces in it",
        b'abc"},"injected":{"x":"',
        b"${jndi:ldap://127.0.0.1/a}",
        b"\xff\xfe\xfd",
        b"\x1b[31mred\x1b[0m",
        b"id\twith\ttabs",
        b"",
    ]
    return rng.choice(variants)


def hostile_requests(count: int, seed: int = 1) -> Iterator[tuple[str, bytes]]:
    """``count`` hostile requests as ``(kind, raw bytes)``, deterministic for a seed."""
    rng = random.Random(seed)
    for _ in range(count):
        kind = rng.choice(KINDS)
        method = b"GET"
        target = rng.choice(ROUTES)
        headers: list[tuple[bytes, bytes]] = []
        if kind == "path":
            target = _random_path(rng)
        elif kind == "long-path":
            target = b"/" + b"a/" * rng.randint(500, 4000)
        elif kind == "method":
            method = rng.choice(
                (b"get", b"post", b"PROPFIND", b"BREW", b"FOO", b"X" * 40, b"M-SEARCH", b"Get")
            )
        elif kind in {"traceparent", "tracestate", "baggage"}:
            name, value = {"traceparent": _traceparent, "tracestate": _tracestate, "baggage": _baggage}[kind](
                rng
            )
            headers.append((name.encode(), value))
            if kind == "tracestate":
                headers.append((b"traceparent", VALID_TRACEPARENT.encode()))
        elif kind == "request-id":
            headers.append((b"X-Request-ID", _request_id(rng)))
        elif kind == "folded-header":
            headers.append((b"X-Note", b"first line\r\n second line"))
        elif kind == "control-chars":
            value = rng.choice(ANSI).encode() + b"agent\x7f\x1b[0m"
            headers.append((rng.choice((b"User-Agent", b"Referer", b"X-Forwarded-For")), value))
        elif kind == "invalid-utf8":
            target = rng.choice(ROUTES) + b"?q=\xff\xfe\xc3\x28&x=\xed\xa0\x80"
            headers.append((b"User-Agent", b"agent-\xff\xfe\xc3\x28"))
            if rng.random() < 0.5:
                target = b"/shop/\xff\xfe/\xc3\x28/"
        elif kind == "query":
            pairs = [b"password=s3cr3t-%d" % rng.randrange(10**6), b"token=t0k3n"]
            pairs += [b"p%d=%s" % (i, _pct(rng.choice(ANSI).encode())) for i in range(rng.randint(10, 120))]
            query = b"&".join(pairs)[:3900]
            target = rng.choice(ROUTES) + b"?" + query
        elif kind == "host":
            headers.append(
                (b"Host", rng.choice((b"evil.example", b"token=abc.example", b"[::1", b"a" * 300)))
            )
        yield kind, build(method, target, headers)


def build(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    names = {name.lower() for name, _ in headers}
    lines = [method + b" " + target + b" HTTP/1.1"]
    if b"host" not in names:
        lines.append(b"Host: 127.0.0.1")
    lines.extend(name + b": " + value for name, value in headers)
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


_STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3})")


def send(address: tuple[str, int], raw: bytes, timeout: float = 30.0) -> Answer:
    """Send ``raw`` and read the whole answer (the server closes the connection)."""
    chunks = []
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(raw)
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    match = _STATUS.match(head)
    if match is None:
        return Answer(None, {}, data)
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return Answer(int(match.group(1)), headers, body)


_CSRF = re.compile(rb'(name="csrfmiddlewaretoken" value=")[^"]*(")')


def normalised(answer: Answer) -> tuple[int | None, bytes]:
    """Status and body with per-request randomness (CSRF tokens) removed, for comparisons."""
    return answer.status, _CSRF.sub(rb"\1-\2", answer.body)
