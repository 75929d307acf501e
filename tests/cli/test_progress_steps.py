"""``dashboards upload`` and ``alerts test`` report each finished step on stderr, as the other long
commands do (tests/cli/test_progress.py); stdout keeps their result."""

from __future__ import annotations

from pathlib import Path

import pytest

import fleetobs
from dashboards import generate
from tests.alerting.conftest import COMPOSE_ALERTMANAGER, COMPOSE_RULES, UNIT_TESTS
from tests.dashboards.test_upload import GOOD, VIEWER, FakeGrafana, grafana  # noqa: F401 - the fixture
from tests.support.procs import require_binary


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = fleetobs.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def tools() -> None:
    require_binary("promtool")
    require_binary("amtool")


def test_dashboards_upload_reports_the_folder_then_each_dashboard(
    grafana: FakeGrafana,  # noqa: F811 - the fixture imported above
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(["dashboards", "upload", "--url", grafana.url, "--token", GOOD], capsys)
    assert code == 0, err
    boards = sorted(generate.dashboards().values(), key=lambda board: board["uid"])
    total = 1 + len(boards)
    assert err.splitlines() == [
        f"[1/{total}] folder Fleet Observability ... ok",
        *(
            f"[{n}/{total}] dashboard {board['uid']} ({board['title']}) ... ok"
            for n, board in enumerate(boards, start=2)
        ),
    ]
    assert f"[2/{total}] dashboard fleetobs-database (Database and cache) ... ok" in err
    assert out.splitlines() == [f"{grafana.url}/d/{board['uid']}/x" for board in boards]
    code, out, err = run(["dashboards", "upload", "--url", grafana.url, "--token", GOOD, "-q"], capsys)
    assert (code, err) == (0, "")
    assert len(out.splitlines()) == len(boards)


def test_a_refused_dashboard_is_the_one_error_line_after_the_folder(
    grafana: FakeGrafana,  # noqa: F811 - the fixture imported above
    capsys: pytest.CaptureFixture[str],
) -> None:
    grafana.folders.append({"uid": "fleetobs", "title": "Fleet Observability"})
    code, out, err = run(["dashboards", "upload", "--url", grafana.url, "--token", VIEWER], capsys)
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        f"[1/{1 + len(generate.dashboards())}] folder Fleet Observability ... ok",
        "fleetobs dashboards upload: the token may not POST /api/dashboards/db (403 Forbidden) "
        "(Access denied): use a service account with the Editor or Admin role",
    ]


@pytest.mark.usefixtures("tools")
def test_alerts_test_reports_each_tool_run(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["alerts", "test", "--rules", str(COMPOSE_RULES / "*.yml")]
    argv += ["--tests", str(UNIT_TESTS / "availability.yml"), "--alertmanager", str(COMPOSE_ALERTMANAGER)]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert err.splitlines() == [
        "[1/3] promtool check rules ... ok",
        "[2/3] promtool test rules ... ok",
        "[3/3] amtool check-config ... ok",
    ]
    assert out.count("$ ") == 3
    assert out.endswith("fleetobs alerts test: all checks passed\n")
    code, _, err = run([*argv, "--quiet"], capsys)
    assert (code, err) == (0, "")


@pytest.mark.usefixtures("tools")
def test_alerts_test_of_a_fresh_generation_has_two_steps(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["alerts", "test"], capsys)
    assert code == 0, err
    assert err.splitlines() == ["[1/2] promtool check rules ... ok", "[2/2] amtool check-config ... ok"]
    assert out.startswith("checking a fresh generation (fleet defaults)")


@pytest.mark.usefixtures("tools")
def test_a_failing_tool_step_follows_the_steps_that_passed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "empty.yml"
    broken.write_text("tests: []\n")
    argv = ["alerts", "test", "--rules", str(COMPOSE_RULES / "*.yml"), "--tests", str(broken)]
    code, _, err = run([*argv, "--alertmanager", str(COMPOSE_ALERTMANAGER)], capsys)
    assert code == 1
    assert err.splitlines() == [
        "[1/3] promtool check rules ... ok",
        f"fleetobs alerts test: {broken} lists no rule_files",
    ]
