"""Batched standard output: whole lines, few writes, nothing lost or printed twice.

A ``SOCK_SEQPACKET`` socket pair keeps the boundary of every ``write(2)``, so each received
message is exactly one write the output made.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest

from instrumentation.logging import output
from instrumentation.logging.output import PIPE_BUF, BatchedOutput

Pair = tuple[socket.socket, socket.socket]


@pytest.fixture
def pair() -> Iterator[Pair]:
    reader, writer = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    reader.setblocking(False)
    yield reader, writer
    reader.close()
    writer.close()


def _writes(reader: socket.socket, wait: float = 0.0) -> list[bytes]:
    """Every write received so far (waiting up to ``wait`` seconds for the first one)."""
    deadline = time.monotonic() + wait
    messages: list[bytes] = []
    while True:
        try:
            messages.append(reader.recv(1 << 20))
        except BlockingIOError:
            if messages or time.monotonic() >= deadline:
                return messages
            time.sleep(0.01)


def _line(n: int, size: int = 100) -> bytes:
    return (f'{{"n":{n},"pad":"' + "x" * size + '"}\n').encode()


def test_info_lines_wait_and_go_out_in_one_write(pair: Pair) -> None:
    reader, writer = pair
    out = BatchedOutput(writer.fileno(), interval=60.0)
    lines = [_line(n) for n in range(3)]
    for line in lines:
        out.write(line)
    assert _writes(reader) == []
    out.flush()
    assert _writes(reader) == [b"".join(lines)]


def test_a_write_never_exceeds_pipe_buf_and_holds_whole_lines(
    pair: Pair,
) -> None:
    reader, writer = pair
    out = BatchedOutput(writer.fileno(), interval=60.0)
    lines = [_line(n, 700) for n in range(40)]
    for line in lines:
        out.write(line)
    out.flush()
    writes = _writes(reader)
    assert 1 < len(writes) < len(lines)
    assert all(len(w) <= PIPE_BUF and w.endswith(b"\n") for w in writes)
    assert b"".join(writes) == b"".join(lines)


def test_an_urgent_line_is_written_at_once_after_what_is_pending(
    pair: Pair,
) -> None:
    reader, writer = pair
    out = BatchedOutput(writer.fileno(), interval=60.0)
    out.write(_line(1))
    out.write(_line(2))
    out.write(b'{"level":"error"}\n', urgent=True)
    assert _writes(reader) == [_line(1) + _line(2) + b'{"level":"error"}\n']


def test_a_line_longer_than_pipe_buf_is_written_whole(pair: Pair) -> None:
    reader, writer = pair
    out = BatchedOutput(writer.fileno(), interval=60.0)
    out.write(_line(1))
    long_line = _line(2, 3 * PIPE_BUF)
    out.write(long_line)
    assert _writes(reader) == [_line(1), long_line]


def test_pending_lines_are_written_within_the_interval(pair: Pair) -> None:
    reader, writer = pair
    out = BatchedOutput(writer.fileno(), interval=0.05)
    out.write(_line(1))
    assert _writes(reader, wait=5.0) == [_line(1)]


def test_zero_interval_writes_every_line_at_once(pair: Pair) -> None:
    reader, writer = pair
    out = BatchedOutput(writer.fileno(), interval=0.0)
    out.write(_line(1))
    out.write(_line(2))
    assert _writes(reader) == [_line(1), _line(2)]


def test_unbuffered_process_writes_at_once_until_reset(pair: Pair) -> None:
    reader, writer = pair
    out = BatchedOutput(writer.fileno(), interval=60.0)
    out.write(_line(1))
    output.unbuffered_in_this_process()  # what was pending goes first
    try:
        out.write(_line(2))
        assert _writes(reader) == [_line(1), _line(2)]
    finally:
        output.reset()
    out.write(_line(3))
    assert _writes(reader) == []
    output.flush_all()
    assert _writes(reader) == [_line(3)]


def test_a_forked_child_starts_empty_and_the_parent_writes_before_forking(
    pair: Pair,
) -> None:
    reader, writer = pair
    out = BatchedOutput(writer.fileno(), interval=60.0)
    out.write(b"parent\n")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            out.write(b"child\n")
            out.flush()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    out.flush()
    assert _writes(reader, wait=5.0) == [b"parent\n", b"child\n"]
