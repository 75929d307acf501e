"""``fleetobs generate``: every generated file of the checkout, fresh; ``--check`` names the stale.

The first test is the staleness check of the whole repository (docs pages, compose and Kubernetes
copies, promtool cases): it fails, listing each stale file and its command, when a generator
changed and its output was not regenerated. The others generate into a copy of the checkout's
inputs, so they never touch the real tree.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import fleetobs
from fleetobs_cli import artefacts

ROOT = Path(__file__).resolve().parents[2]
#: What the generators read besides the code: the SLO spec, the results, the hand-written docs
#: holding generated sections.
INPUTS = (*artefacts.SOURCES, "docs/logging.md", "docs/scaling.md")
NAMES = [generator.name for generator in artefacts.GENERATORS]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = fleetobs.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def progress(outcomes: list[str]) -> list[str]:
    steps = enumerate(zip(NAMES, outcomes, strict=True), start=1)
    return [f"[{n}/{len(NAMES)}] {name} ... {outcome}" for n, (name, outcome) in steps]


def test_every_generated_file_of_the_checkout_is_fresh(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["generate", "--check"], capsys)
    assert code == 0, f"{out}\n{err}"
    assert out.endswith("generated files, all up to date\n")
    assert err.splitlines() == progress(["up to date"] * len(NAMES))


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout holding the generators' inputs and none of their outputs."""
    for relative in INPUTS:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / relative, tmp_path / relative)
    monkeypatch.setattr(artefacts, "CODE_ROOT", tmp_path)
    return tmp_path


def generated(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).as_posix() not in INPUTS
    }


def test_generating_from_the_inputs_writes_the_committed_files_byte_for_byte(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["generate"], capsys)
    assert code == 0, err
    files = generated(tree)
    # docs/logging.md and docs/scaling.md are inputs rewritten in place, identical to the committed ones.
    assert sorted(line.removeprefix("wrote ") for line in out.splitlines()) == sorted(files)
    assert files == {relative: (ROOT / relative).read_bytes() for relative in files}
    assert {"docs/metrics.md", "compose/alertmanager/alertmanager.yml"} <= set(files)
    assert any(name.startswith("deploy/kubernetes/base/generated/") for name in files)
    assert any(name.startswith("tests/alerting/promtool/") for name in files)
    assert err.splitlines()[0] == f"[1/{len(NAMES)}] {NAMES[0]} ... 1 rewritten"
    code, out, err = run(["generate", "--quiet"], capsys)
    assert (code, err) == (0, "")
    assert out == f"{len(files) + 2} generated files, all up to date\n"


def test_check_lists_each_stale_file_with_its_command_and_writes_nothing(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fleetobs.main(["generate", "-q"]) == 0
    capsys.readouterr()
    (tree / "docs" / "metrics.md").write_text("edited by hand\n")
    (tree / "tests" / "alerting" / "promtool" / "slo.yml").unlink()
    (tree / "compose" / "grafana" / "dashboards" / "fleetobs-retired.json").write_text("{}\n")
    before = generated(tree)
    code, out, err = run(["generate", "--check"], capsys)
    assert code == 1
    assert out.splitlines() == [
        "docs/metrics.md: stale; run fleetobs docs generate",
        "compose/grafana/dashboards/fleetobs-retired.json: no generator writes it; "
        "run fleetobs generate (it removes the file)",
        "tests/alerting/promtool/slo.yml: stale; run python -m tests.alerting.promtool_cases",
    ]
    outcomes = ["up to date"] * len(NAMES)
    outcomes[0] = outcomes[4] = outcomes[7] = "1 stale"
    summary = "fleetobs generate: 3 stale file(s); run fleetobs generate"
    assert err.splitlines() == [*progress(outcomes), summary]
    assert generated(tree) == before
    code, out, err = run(["generate"], capsys)
    assert code == 0
    outcomes[4] = "1 removed"
    outcomes[0] = outcomes[7] = "1 rewritten"
    assert err.splitlines() == progress(outcomes)
    assert out.splitlines() == [
        "wrote docs/metrics.md",
        "removed compose/grafana/dashboards/fleetobs-retired.json",
        "wrote tests/alerting/promtool/slo.yml",
    ]
    assert fleetobs.main(["generate", "--check", "-q"]) == 0


def test_outside_a_checkout_it_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As from an installed wheel: the code's directory holds no pyproject.toml, no tests/."""
    monkeypatch.setattr(artefacts, "CODE_ROOT", tmp_path)
    for argv in (["generate"], ["generate", "--check"]):
        code, out, err = run(argv, capsys)
        assert code == 2
        assert out == ""
        assert err == (
            f"fleetobs generate: {tmp_path} is not a Fleet Observability checkout (pyproject.toml is "
            "missing): this command rewrites the repository's generated files, so run it from a "
            "clone; to write dashboards, rules or docs for your own deployment use fleetobs "
            "dashboards generate, fleetobs alerts generate or fleetobs docs generate\n"
        )
    assert list(tmp_path.iterdir()) == []
