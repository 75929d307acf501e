"""The runtime sampler: a failing sample never stops the next ones (build info in every
worker of a preloading server is checked under real gunicorn, in tests/reliability)."""

from __future__ import annotations

import time

import pytest

from instrumentation.metrics import runtime
from instrumentation.testing import get_sample_value


def wait_for(condition: object, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_gauges_recover_after_a_failing_first_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "INTERVAL", 0.05)
    failures = iter([OSError("No space left on device")])
    real = runtime._resident_memory

    def flaky() -> int | None:
        for failure in failures:
            raise failure
        return real()

    monkeypatch.setattr(runtime, "_resident_memory", flaky)
    runtime.ensure_sampler()  # the first sample fails: neither raises nor stops the sampler
    assert wait_for(lambda: (get_sample_value("fleetobs_process_resident_memory_bytes") or 0) > 0)
