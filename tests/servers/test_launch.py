"""What ``fleetobs serve`` does before the server's own code runs: the metrics directory (emptied
only when no running server holds it, removed when private) and the server's command line."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from instrumentation.metrics import multiprocess
from instrumentation.servers import launch, logconfig


def stale_files(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "counter_4242.db").write_bytes(b"\0" * 16)
    (directory / "dead_4242").touch()


def test_a_directory_nobody_holds_is_emptied_and_exported(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    stale_files(directory)
    env = {launch.DIR_ENV: str(directory)}
    held = launch.prepare_metrics_directory(env)
    try:
        assert held.emptied
        assert not held.created
        # Emptied: only the server's lock and the record of the pid namespace that emptied it.
        assert sorted(p.name for p in directory.iterdir()) == sorted(
            [launch.OWNER_LOCK, multiprocess.NAMESPACE_FILE]
        )
        assert env[launch.DIR_ENV] == str(directory)
    finally:
        held.release()
    assert directory.is_dir()  # the user's directory stays


def test_a_directory_a_running_server_holds_is_joined_not_emptied(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    running = launch.prepare_metrics_directory({launch.DIR_ENV: str(directory)})
    stale_files(directory)  # the running server's workers have written
    joined = launch.prepare_metrics_directory({launch.DIR_ENV: str(directory)})
    try:
        assert not joined.emptied
        assert (directory / "counter_4242.db").exists()
    finally:
        joined.release()
        running.release()


def test_a_private_directory_is_removed_at_release_and_after_a_kill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    env: dict[str, str] = {}
    first = launch.prepare_metrics_directory(env)
    assert first.created
    assert first.path.parent == tmp_path
    first.release()
    assert not first.path.exists()
    # A server killed outright leaves its directory; nobody holds its lock, so the next launch
    # removes it. One still held is left alone.
    abandoned = launch.prepare_metrics_directory({})
    assert abandoned._handle is not None
    abandoned._handle.close()  # what the kernel does when the process is killed
    alive = launch.prepare_metrics_directory({})
    later = launch.prepare_metrics_directory({})
    try:
        assert not abandoned.path.exists()
        assert alive.path.exists()
    finally:
        later.release()
        alive.release()


def test_the_lock_is_shared_while_serving(tmp_path: Path) -> None:
    held = launch.prepare_metrics_directory({launch.DIR_ENV: str(tmp_path)})
    try:
        with (tmp_path / launch.OWNER_LOCK).open("a") as other:
            fcntl.flock(other, fcntl.LOCK_SH | fcntl.LOCK_NB)  # another server may join
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # but nobody may empty it
    finally:
        held.release()


@pytest.mark.parametrize(
    ("server", "args", "expected"),
    [
        ("uvicorn", ["p.asgi:app"], ["--log-config", "L", "--no-access-log", "p.asgi:app"]),
        ("uvicorn", ["p.asgi:app", "--log-config=x.json", "--access-log"], None),
        ("hypercorn", ["p.asgi:app"], ["--log-config", "json:L", "p.asgi:app"]),
        ("hypercorn", ["--log-config", "toml:x", "p.asgi:app"], None),
        ("granian", ["p.asgi:app"], ["--log-config", "L", "--interface", "asgi", "p.asgi:app"]),
        ("granian", ["--interface", "asginl", "--log-config", "x", "p.asgi:app"], None),
        ("daphne", ["p.asgi:app"], ["--access-log", os.devnull, "p.asgi:app"]),
        ("daphne", ["--access-log", "-", "p.asgi:app"], None),
    ],
)
def test_arguments_are_added_only_when_the_command_line_has_none(
    server: str, args: list[str], expected: list[str] | None
) -> None:
    assert launch.adapt_arguments(server, args, Path("L")) == (expected if expected is not None else args)


def test_the_servers_access_log_can_be_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETOBS_SERVER_ACCESS_LOG", "1")
    assert launch.adapt_arguments("uvicorn", ["a:b"], None) == ["a:b"]
    assert logconfig.dict_config("uvicorn")["loggers"]["uvicorn.access"]["level"] == "INFO"


@pytest.mark.parametrize(
    ("args", "found"),
    [
        (["project.asgi:application", "--workers", "2"], "project.asgi:application"),
        (["-b", "0.0.0.0", "-p", "8000", "project.asgi:application"], "project.asgi:application"),
        (["--workers", "2"], None),
    ],
)
def test_the_application_is_found_on_the_command_line(args: list[str], found: str | None) -> None:
    assert launch.find_application(args) == found


def test_unknown_servers_are_refused() -> None:
    with pytest.raises(ValueError, match="waitress"):
        launch.run("waitress", [])
    with pytest.raises(ValueError, match="waitress"):
        logconfig.dict_config("waitress")


def test_the_log_configuration_file_is_reused(tmp_path: Path) -> None:
    first = logconfig.write_config_file("granian", tmp_path)
    assert logconfig.write_config_file("granian", tmp_path) == first
    assert list(tmp_path.iterdir()) == [first]


def test_the_lifespan_wrapper_takes_the_place_of_the_application() -> None:
    from instrumentation.servers import asgi

    env: dict[str, str] = {}
    args = launch.with_lifespan("uvicorn", ["project.asgi:application", "--workers", "2"], env)
    assert args == ["instrumentation.servers.asgi:application", "--workers", "2"]
    assert env == {asgi.TARGET_ENV: "project.asgi:application"}
    assert launch.with_lifespan("daphne", ["project.asgi:application"], {}) == ["project.asgi:application"]
    off = {"FLEETOBS_ASGI_LIFESPAN": "0"}
    assert launch.with_lifespan("uvicorn", ["project.asgi:application"], off) == ["project.asgi:application"]
