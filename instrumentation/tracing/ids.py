"""Trace and span ids: random integers, and their lowercase hex forms for headers and logs.

``random.getrandbits`` is what the SDK's own id generator uses; CPython reseeds the ``random``
module in a forked child, so workers of a preloaded server never repeat each other's ids.
"""

from __future__ import annotations

import random

_getrandbits = random.getrandbits


def new_trace_id() -> int:
    """A random non-zero 128-bit trace id."""
    return _getrandbits(128) or new_trace_id()


def new_span_id() -> int:
    """A random non-zero 64-bit span id."""
    return _getrandbits(64) or new_span_id()


def trace_hex(trace_id: int) -> str:
    return trace_id.to_bytes(16, "big").hex()  # twice as fast as format(trace_id, "032x")


def span_hex(span_id: int) -> str:
    return span_id.to_bytes(8, "big").hex()
