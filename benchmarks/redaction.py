"""Redaction of adversarial text: the CPU time to redact 64 KB built to be slow to scan.

Each shape is one opening repeated to fill the size (a key repeated thousands of times with every
kind of value, unterminated quotes and brackets, URL fragments, digit runs that look like card
numbers), or one opening followed by a long run of what could end it but never does. Redaction
is linear in the size of its input (:mod:`instrumentation.redaction`); these shapes are
where its constant is largest. The figure is the process's CPU time (best of the rounds), so a
busy machine descheduling the process does not count. A log value is scanned only up to four
times its kept length (8 KB by default), so in the log pipeline these costs are an eighth of the
figures here; span exception messages are scanned whole.
"""

from __future__ import annotations

import time
from typing import Any, TypedDict

SIZE = 65_536
TARGET_MS = 20.0


class Shape(TypedDict):
    """One row of the result: the shape, described, and its CPU milliseconds."""

    shape: str
    cpu_ms: float


#: Openings repeated to fill the size.
REPEATED = (
    "password=",
    "password=a ",
    "{'password': [",
    '"password": "',
    '\\"password\\": \\"',
    "https://a:b@",
    "4111 ",
    "--password ",
    "'password', ",
    "(token)=",
    "token:",
    "Bearer ",
    "eyJabcdefghij.",
    "-----BEGIN PRIVATE KEY-----",
)

#: One opening followed by a long run of what could end it but never does (a run of backslashes
#: once cost a scan per position: 20 seconds for 64 KB).
TAILS = (
    ('"secret": "', "\\"),
    ("'secret': '", "\\"),
    ("{'password': [", "\\"),
    ('{"a": "{\\"password\\": \\"', "\\"),
    ('"password": "', '\\"'),
)

#: (prefix, repeated unit) of every shape.
SHAPES: tuple[tuple[str, str], ...] = tuple(("", unit) for unit in REPEATED) + TAILS


def text(prefix: str, unit: str, size: int = SIZE) -> str:
    """``prefix`` then ``unit`` repeated, ``size`` characters in all."""
    return prefix + (unit * (size // len(unit) + 1))[: size - len(prefix)]


def cpu_ms(redact: Any, value: str, rounds: int) -> float:
    """The least CPU time, in milliseconds, of ``rounds`` calls of ``redact(value)``."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        redact(value)
        best = min(best, time.process_time() - start)
    return best * 1000


def run(rounds: int = 5) -> dict[str, Any]:
    """CPU milliseconds to redact each shape at 64 KB, and the worst of them."""
    from instrumentation.conf import DEFAULT_REDACT_KEYS
    from instrumentation.redaction import Redactor

    redactor = Redactor(DEFAULT_REDACT_KEYS)
    shapes: list[Shape] = []
    for prefix, unit in SHAPES:
        name = f"{prefix!r} then {unit!r} x N" if prefix else f"{unit!r} x N"
        shapes.append({"shape": name, "cpu_ms": cpu_ms(redactor.redact_text, text(prefix, unit), rounds)})
    worst = max(shapes, key=lambda entry: entry["cpu_ms"])
    return {"size": SIZE, "rounds": rounds, "target_ms": TARGET_MS, "shapes": shapes, "worst": worst}
