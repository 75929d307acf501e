"""Running promtool and amtool on generated files, without their silent failure modes.

``promtool test rules`` only *warns* when a ``rule_files`` pattern in a test file matches nothing,
and then reports success for tests that evaluated no rules at all; a shell glob that matches
nothing is passed on literally. Every function here expands patterns itself and raises
:class:`ToolError` when one matches nothing, before a tool is run.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml


class ToolError(RuntimeError):
    """A tool is missing, a pattern matched nothing, or a tool reported failure (output attached)."""


@dataclass(frozen=True)
class Result:
    command: tuple[str, ...]
    output: str
    stdout: str


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        package = "prometheus" if name == "promtool" else "prometheus-alertmanager"
        raise ToolError(f"{name} not found on PATH; install it with: sudo apt-get install -y {package}")
    return path


def expand(patterns: Iterable[str | Path], base: Path | None = None) -> list[Path]:
    """Files matching each pattern (relative ones against ``base``); raises if any matches nothing."""
    files: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        if base is not None and not Path(text).is_absolute():
            text = str(base / text)
        matches = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())  # noqa: PTH207 - absolute patterns
        if not matches:
            raise ToolError(f"{pattern!s} matches no file" + (f" (relative to {base})" if base else ""))
        files.extend(matches)
    return files


def run(command: Sequence[str], timeout: float = 600.0) -> Result:
    completed = subprocess.run(  # noqa: S603 - fixed tool binaries and our own file paths
        list(command), capture_output=True, text=True, timeout=timeout, check=False
    )
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise ToolError(f"{' '.join(command)} failed ({completed.returncode}):\n{output}")
    return Result(tuple(command), output, completed.stdout)


def check_rules(patterns: Iterable[str | Path]) -> Result:
    """``promtool check rules --lint-fatal`` on every matching file."""
    files = expand(patterns)
    return run([binary("promtool"), "check", "rules", "--lint-fatal", *map(str, files)])


def test_rules(patterns: Iterable[str | Path]) -> Result:
    """``promtool test rules`` on the unit-test files, after checking their ``rule_files`` exist."""
    files = expand(patterns)
    for test_file in files:
        document = yaml.safe_load(test_file.read_text(encoding="utf-8")) or {}
        rule_patterns = document.get("rule_files") or []
        if not rule_patterns:
            raise ToolError(f"{test_file} lists no rule_files")
        expand(rule_patterns, base=test_file.parent)
        if not document.get("tests"):
            raise ToolError(f"{test_file} has no tests")
    result = run([binary("promtool"), "test", "rules", *map(str, files)])
    if "WARNING" in result.output:
        raise ToolError(f"promtool test rules warned:\n{result.output}")
    return result


def check_alertmanager(path: Path) -> Result:
    """``amtool check-config`` on an Alertmanager configuration file."""
    expand([path])
    return run([binary("amtool"), "check-config", str(path)])


def route_receivers(config: Path, labels: Mapping[str, str]) -> list[str]:
    """Receivers an alert with ``labels`` reaches, as ``amtool config routes test`` computes them."""
    args = [f"{k}={v}" for k, v in labels.items()]
    result = run([binary("amtool"), "config", "routes", "test", f"--config.file={config}", *args])
    return sorted(r.strip() for r in result.stdout.strip().split(",") if r.strip())
