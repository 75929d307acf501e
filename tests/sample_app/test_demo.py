"""``fleetobs demo`` end to end: started in the background like ``make demo``, it serves two
instances, Prometheus scrapes every target, Alertmanager is ready, load reaches Prometheus, and
Ctrl-C stops every process it started. Also: the missing-binaries message, and the clean-up of
processes left behind by a crashed run."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sample_app import processes
from sample_app.fleet import kill_recorded_processes, running_owner
from tests.support.procs import require_binary

pytestmark = [pytest.mark.integration]

RUN_SECONDS = 45  # how long the demo runs under load before it is stopped
URL_LINE = re.compile(r"^\s+(\S+(?: receiver)?)\s+(http://127\.0\.0\.1:\d+)/?$")


class DemoRun:
    """A ``python -m fleetobs demo`` process in its own session, its output in a file."""

    def __init__(self, tmp_path: Path, repo_root: Path, *args: str, name: str = "demo") -> None:
        self.output = tmp_path / f"{name}.out"
        self.state_dir = tmp_path / "state"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        command = [sys.executable, "-m", "fleetobs", "demo", "--state-dir", str(self.state_dir),
                   "--scrape-interval", "1s", *args]  # fmt: skip
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=repo_root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_for_output(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if self.process.poll() is not None:
                pytest.fail(f"demo exited with {self.process.returncode}:\n{self.text()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {needle!r} after {timeout}s:\n{self.text()[-4000:]}")
            time.sleep(0.2)

    def urls(self) -> dict[str, str]:
        return {m.group(1): m.group(2) for line in self.text().splitlines() if (m := URL_LINE.match(line))}

    def ctrl_c(self, timeout: float = 60) -> int:
        """What a terminal does on Ctrl-C: SIGINT to the foreground process group."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=timeout)

    def kill(self, *, recorded: bool = True) -> None:
        """Clean up whatever is left: this process group, and with ``recorded`` its servers."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if recorded:
            kill_recorded_processes(self.state_dir / "pids.json")


@pytest.fixture
def demo(tmp_path: Path, repo_root: Path) -> Iterator[DemoRun]:
    require_binary("prometheus")
    require_binary("prometheus-alertmanager")
    run = DemoRun(tmp_path, repo_root, "--rate", "5")
    try:
        yield run
    finally:
        run.kill()


def _all_pids(pgids: list[int]) -> set[int]:
    return {pid for pgid in pgids for pid in processes.group_pids(pgid)}


@pytest.mark.slow
def test_demo_runs_a_watched_fleet_and_stops_cleanly(demo: DemoRun) -> None:
    started = time.monotonic()
    demo.wait_for_output("Press Ctrl-C to stop", timeout=180)
    urls = demo.urls()
    assert {"shop-1", "shop-2", "prometheus", "alertmanager"} <= set(urls), demo.text()

    for name in ("shop-1", "shop-2"):
        assert requests.get(urls[name] + "/healthz", timeout=10).status_code == 200
        assert requests.get(urls[name] + "/shop/products/", timeout=10).status_code == 200
    assert requests.get(urls["alertmanager"] + "/-/ready", timeout=10).status_code == 200

    prometheus = urls["prometheus"]
    deadline = time.monotonic() + 60
    while True:
        targets = requests.get(f"{prometheus}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        if len(targets) == 2 and all(t["health"] == "up" for t in targets):
            break
        assert time.monotonic() < deadline, targets
        time.sleep(0.5)
    assert sorted(t["labels"]["instance"] for t in targets) == ["shop-1", "shop-2"]
    assert {(t["labels"]["job"], t["labels"]["environment"]) for t in targets} == {("shop", "demo")}

    # The load generator's requests reach Prometheus through the scrape.
    query = 'sum(http_server_request_duration_seconds_count{job="shop", http_route="shop/products/"})'
    deadline = time.monotonic() + 60
    while True:
        result = requests.get(f"{prometheus}/api/v1/query", params={"query": query}, timeout=10).json()
        values = result["data"]["result"]
        if values and float(values[0]["value"][1]) > 0:
            break
        assert time.monotonic() < deadline, result
        time.sleep(1)

    # Alert rules are loaded when the alerting package provides them.
    groups = requests.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    if importlib.util.find_spec("alerting.api") is not None:
        assert groups, "the demo loaded no rule groups"

    # Keep it running under load for the rest of the minute, then Ctrl-C.
    pgids = [entry["pgid"] for entry in json.loads((demo.state_dir / "pids.json").read_text())["groups"]]
    assert len(pgids) == 4  # two gunicorn masters, Alertmanager, Prometheus
    running = _all_pids(pgids)
    assert len(running) >= 2 * 3 + 2  # masters and their two workers each, plus the two servers
    time.sleep(max(0.0, RUN_SECONDS - (time.monotonic() - started)))
    for app in ("shop-1", "shop-2"):
        assert requests.get(urls[app] + "/healthz", timeout=10).status_code == 200

    assert demo.ctrl_c() == 0, demo.text()[-3000:]
    assert "demo stopped" in demo.text()
    assert _all_pids(pgids) == set()
    assert not [pid for pid in running if processes.pid_alive(pid)]
    assert not (demo.state_dir / "pids.json").exists()


@pytest.mark.slow
def test_demo_runs_again_in_the_same_state_and_stops_on_sigterm(tmp_path: Path, repo_root: Path) -> None:
    require_binary("prometheus")
    require_binary("prometheus-alertmanager")
    small = ("--instances", "1", "--workers", "1", "--no-load")
    first = DemoRun(tmp_path, repo_root, *small, "--duration", "1", name="first")
    try:
        assert first.process.wait(timeout=120) == 0, first.text()[-3000:]
    finally:
        first.kill()
    assert "demo stopped" in first.text()

    second = DemoRun(tmp_path, repo_root, *small, name="second")
    try:
        second.wait_for_output("Press Ctrl-C to stop", timeout=120)
        record = json.loads((second.state_dir / "pids.json").read_text())
        pgids = [entry["pgid"] for entry in record["groups"]]
        running = _all_pids(pgids)
        assert running_owner(second.state_dir / "pids.json") == second.process.pid
        # A second demo in the same state dir is refused while this one runs, and harms nothing.
        third = DemoRun(tmp_path, repo_root, *small, name="third")
        try:
            assert third.process.wait(timeout=60) == 1, third.text()[-3000:]
        finally:
            third.kill(recorded=False)
        assert f"another fleet (pid {second.process.pid}) is running" in third.text()
        assert _all_pids(pgids) == running
        assert running_owner(second.state_dir / "pids.json") == second.process.pid
        assert "shop-1" in second.urls()
        assert requests.get(second.urls()["shop-1"] + "/shop/products/", timeout=10).status_code == 200
        second.process.send_signal(signal.SIGTERM)  # as a process manager would stop it
        assert second.process.wait(timeout=60) == 0, second.text()[-3000:]
    finally:
        second.kill()
    assert "200 new products" in first.text()
    assert "0 new products" in second.text()  # the same database, seeded once
    assert "demo stopped" in second.text()
    assert not [pid for pid in running if processes.pid_alive(pid)]


def test_demo_without_binaries_prints_the_install_command(tmp_path: Path, repo_root: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    result = subprocess.run(
        [sys.executable, "-m", "fleetobs", "demo", "--no-install", "--state-dir", str(tmp_path / "state")],
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "apt-get install -y prometheus prometheus-alertmanager" in result.stderr
    assert not (tmp_path / "state").exists()  # nothing was started


def _wait_for_exec(pid: int, expected: str, timeout: float = 10) -> str:
    """The command line of ``pid`` once it has exec'd ``expected`` (right after fork it is ours)."""
    deadline = time.monotonic() + timeout
    while True:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        if cmdline == expected or time.monotonic() > deadline:
            return cmdline
        time.sleep(0.01)


def test_processes_left_by_a_crashed_run_are_stopped(tmp_path: Path) -> None:
    leftover = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        cmdline = _wait_for_exec(leftover.pid, "sleep 300")
        record = tmp_path / "pids.json"
        record.write_text(json.dumps({"groups": [{"pgid": leftover.pid, "cmdline": cmdline}]}))
        assert kill_recorded_processes(record) == [leftover.pid]
        assert leftover.wait(timeout=10) == -signal.SIGTERM
        assert not record.exists()
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()


def test_a_reused_pid_is_not_killed(tmp_path: Path) -> None:
    bystander = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        record = tmp_path / "pids.json"
        record.write_text(
            json.dumps({"groups": [{"pgid": bystander.pid, "cmdline": "prometheus --config.file=x"}]})
        )
        assert kill_recorded_processes(record) == []
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
