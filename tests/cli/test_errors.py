"""Every ``fleetobs`` command fails like a Unix tool.

A user error (a missing or unreadable file, bad YAML, a wrong shape, a value out of range,
conflicting options, an output path that is a file) is one line on stderr naming the problem,
exit status 2; a backend that cannot be reached is one line naming its URL, exit status 1. Never
a traceback. ``fleetobs doctor`` keeps its documented contract: 2 when it cannot check.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fleetobs
import sample_app.cli
from tests.support.procs import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Paths the table refers to by name."""
    spec_files = {
        "list": "services:\n  - shop\n",
        "teams_list": "teams:\n  - platform\n",
        "entry_list": "services:\n  shop: [99.9]\n",
        "scalar": "just some text\n",
        "bad_yaml": "defaults: [\n",
        "bad_value": "defaults: {availability: 120}\n",
        "good": "defaults: {availability: 99.5}\n",
    }
    paths = {"dir": str(tmp_path), "out": str(tmp_path / "out"), "missing": str(tmp_path / "nope.yaml")}
    for name, text in spec_files.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        paths[name] = str(path)
    (tmp_path / "a-file").write_text("not a directory\n")
    paths["file"] = str(tmp_path / "a-file")
    return paths


#: (argv with {placeholders}, exit status, a phrase the one line must contain)
USER_ERRORS = [
    # alerts generate
    ("alerts generate --out {out} --slo {missing}", 2, "no such file"),
    ("alerts generate --out {out} --slo {list}", 2, "services must be a mapping"),
    ("alerts generate --out {out} --slo {teams_list}", 2, "teams must be a mapping"),
    ("alerts generate --out {out} --slo {entry_list}", 2, "services.shop must be a mapping"),
    ("alerts generate --out {out} --slo {scalar}", 2, "must be a mapping"),
    ("alerts generate --out {out} --slo {bad_yaml}", 2, "not valid YAML"),
    ("alerts generate --out {out} --slo {bad_value}", 2, "availability"),
    ("alerts generate --out {out} --slo {dir}", 2, "not a file"),
    ("alerts generate --out {out} --time-scale -1", 2, "out of range"),
    ("alerts generate --out {out} --time-scale fast", 2, "not a number"),
    ("alerts generate --out {file}", 2, "is a file, not a directory"),
    ("alerts generate --out {file}/sub", 2, "is a file, not a directory"),
    ("alerts generate --out {out} --rule-label novalue", 2, "is not KEY=VALUE"),
    ("alerts generate --out {out} --layout nested", 2, "invalid choice"),
    ("alerts generate", 2, "required: --out"),
    ("alerts", 2, "required: ACTION"),
    # alerts test
    ("alerts test --alertmanager {missing}", 2, "no such file"),
    ("alerts test --slo {list}", 2, "services must be a mapping"),
    ("alerts test --slo {good} --rules x.yml --alertmanager {good}", 2, "give one"),
    # dashboards
    ("dashboards generate --out {file}", 2, "is a file"),
    ("dashboards generate --out {out} --provisioning {file}", 2, "is a file"),
    ("dashboards upload --url localhost:3000 --token t", 2, "not a URL"),
    ("dashboards upload --url http://127.0.0.1:3000 --token t --timeout 0", 2, "out of range"),
    ("dashboards upload --url http://127.0.0.1:3000", 2, "token is required"),
    ("dashboards snapshot --prometheus http://127.0.0.1:9 --out {out} --from yesterday", 2, "not a time"),
    ("dashboards snapshot --prometheus http://127.0.0.1:9 --out {file}", 2, "is a file"),
    ("dashboards snapshot --prometheus prometheus:9090 --out {out}", 2, "not a URL"),
    # elasticsearch, kibana
    ("elasticsearch setup --url localhost:9200", 2, "not a URL"),
    ("elasticsearch setup --url http://127.0.0.1:9 --retention-days 0", 2, "out of range"),
    ("elasticsearch assets --out {file}", 2, "is a file"),
    ("elasticsearch assets --out {out} --retention-days week", 2, "not a whole number"),
    ("kibana import --url ftp://kibana", 2, "not a URL"),
    ("kibana import --url http://127.0.0.1:9 --timeout -5", 2, "out of range"),
    # docs
    ("docs generate --out {file}", 2, "is a file"),
    # doctor (its own contract: 2 is "cannot check", bad arguments included)
    ("doctor --prometheus localhost:9090", 2, "http://"),
    ("doctor --prometheus http://127.0.0.1:9 --range 5x", 2, "not a duration"),
    ("doctor --prometheus http://127.0.0.1:9 --slo {missing}", 2, "no such file"),
    ("doctor --prometheus http://127.0.0.1:9 --slo {list}", 2, "services must be a mapping"),
    ("doctor --prometheus http://127.0.0.1:9 --max-routes 0", 2, "out of range"),
    ("doctor --prometheus http://127.0.0.1:9 --range 0s", 2, "--range"),
    # demo (rejected before anything starts)
    ("demo --instances 0 --state-dir {out}", 2, "out of range"),
    ("demo --install --no-install --state-dir {out}", 2, "not allowed with argument"),
    ("demo --rate -1 --state-dir {out}", 2, "out of range"),
    ("demo --scrape-interval fast --state-dir {out}", 2, "not a duration"),
    ("demo --slo {missing} --state-dir {out}", 2, "no such file"),
    ("demo --state-dir {file}", 2, "is a file"),
    # generate (a checkout's generated files; outside one, see tests/cli/test_generate.py)
    ("generate --check everything", 2, "unrecognized arguments"),
    # serve, and the dispatcher itself
    ("serve gunicorn app:application", 2, "invalid choice"),
    ("no-such-command", 2, "invalid choice"),
]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = fleetobs.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line(err: str) -> str:
    assert "Traceback" not in err
    assert err.count("\n") == 1, f"expected one line on stderr, got:\n{err}"
    assert err.endswith("\n")
    return err


@pytest.mark.parametrize(("argv", "status", "phrase"), USER_ERRORS, ids=[case[0] for case in USER_ERRORS])
def test_a_user_error_is_one_line_and_exit_2(
    argv: str,
    status: int,
    phrase: str,
    files: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    code, _, err = run_main(argv.format(**files).split(), capsys)
    assert code == status, err
    line = assert_one_line(err)
    assert phrase in line
    assert line.startswith("fleetobs")
    assert not Path(files["out"]).exists(), "nothing is written when the invocation is wrong"


def test_the_table_is_large_enough_and_covers_every_command() -> None:
    assert len(USER_ERRORS) >= 25
    commands = {case[0].split()[0] for case in USER_ERRORS}
    top_level = set(_subcommands(fleetobs.build_parser()))
    assert top_level <= commands | {"--help"}, top_level - commands


@pytest.mark.parametrize(
    "argv",
    [
        "dashboards upload --url {url} --token t --timeout 5",
        "dashboards snapshot --prometheus {url} --out {out} --timeout 5",
        "elasticsearch setup --url {url} --timeout 5",
        "kibana import --url {url} --timeout 5",
    ],
)
def test_an_unreachable_backend_is_one_line_naming_the_url_and_exit_1(
    argv: str, files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = run_main(argv.format(url=url, **files).split(), capsys)
    assert code == 1, err
    line = assert_one_line(err)
    assert url in line
    assert "cannot reach" in line or "cannot connect" in line


def test_the_doctor_keeps_its_documented_cannot_check_status(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = run_main(["doctor", "--prometheus", url, "--timeout", "5"], capsys)
    assert code == 2
    assert "Traceback" not in out + err
    assert url in out
    assert "CANNOT CHECK" in out


def test_the_installed_command_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("")
    result = subprocess.run(
        [sys.executable, str(ROOT / "fleetobs.py"), "alerts", "generate", "--out", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert_one_line(result.stderr)
    assert result.stdout == ""


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _every_command(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = [(path, parser)]
    for name, sub in _subcommands(parser).items():
        found.extend(_every_command(sub, (*path, name)))
    return found


_COMMANDS = _every_command(fleetobs.build_parser())


@pytest.mark.parametrize(
    ("path", "parser"), _COMMANDS, ids=[" ".join(("fleetobs", *path)) for path, _ in _COMMANDS]
)
def test_help_ends_with_an_example(path: tuple[str, ...], parser: argparse.ArgumentParser) -> None:
    lines = [line for line in parser.format_help().splitlines() if line.strip()]
    example = lines.index("example:") if "example:" in lines else -1
    assert example > 0, f"`fleetobs {' '.join(path)} --help` has no example"
    assert all(line.startswith("  ") and "fleetobs" in line for line in lines[example + 1 :])


def test_demo_does_not_install_system_packages_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[list[str]] = []

    def which(name: str) -> str | None:
        return "/usr/bin/apt-get" if name == "apt-get" else None  # Prometheus and Alertmanager missing

    def record(command: list[str], **_kwargs: object) -> subprocess.CompletedProcess[str]:
        ran.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(sample_app.cli.shutil, "which", which)
    monkeypatch.setattr(sample_app.cli.subprocess, "run", record)
    monkeypatch.setattr(sample_app.cli.os, "geteuid", lambda: 0)  # even as root
    state = tmp_path / "state"
    for argv in (["demo"], ["demo", "--no-install"]):
        code, _, err = run_main([*argv, "--state-dir", str(state)], capsys)
        assert code == 1
        assert_one_line(err)
        assert "apt-get install -y prometheus prometheus-alertmanager" in err
    assert ran == []
    assert not state.exists()
    assert fleetobs.build_parser().parse_args(["demo", "--install"]).install is True
    code, _, _ = run_main(["demo", "--install", "--state-dir", str(state)], capsys)
    assert [command[:2] for command in ran] == [["apt-get", "update"], ["apt-get", "install"]]


def test_version_and_help_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert fleetobs.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("fleetobs ")
    assert fleetobs.main(["alerts", "generate", "--help"]) == 0
    assert os.linesep.join(capsys.readouterr().out.splitlines()[-1:]).startswith("  fleetobs alerts generate")
