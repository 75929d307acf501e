"""``python -m benchmarks``: the options that narrow a run are checked before anything runs."""

from __future__ import annotations

import pytest

from benchmarks.__main__ import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--views", "raw-5,raw-500"], "unknown views: raw-500"),
        (["--views", "raw-5,raw-50"], "--configs/--rounds/--views give a partial run: pass --output"),
        (["--configs", "bare,nope"], "nope"),
    ],
)
def test_a_narrowed_run_is_refused_before_it_starts(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--sections", "overhead", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
