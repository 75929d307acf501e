"""What every ``fleetobs`` command shares: how it fails, and how its arguments are checked.

A command fails like a Unix tool: one line on stderr that names the problem and the fix, and an
exit status that says whose problem it is::

    UsageError   exit 2   the invocation is wrong: a missing or unreadable file, bad YAML, a wrong
                          shape, a value out of range, conflicting options, an output path that is
                          a file. argparse's own errors are the same kind (see Parser).
    Unreachable  exit 1   a backend (Grafana, Prometheus, Elasticsearch, Kibana) did not answer;
                          the line names its URL.
    Refused      exit 1   a backend answered and refused (a rejected token, a bad request).

Commands raise these (or return an exit status); :func:`run` prints them. The ``type=``
functions below (:func:`readable_file`, :func:`output_dir`, :func:`number`, :func:`key_value`,
:func:`http_url`) turn a bad value into argparse's one-line error before anything runs.
``fleetobs doctor`` keeps its own documented contract: 2 when it cannot check a backend.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

__all__ = [
    "EXIT_BACKEND",
    "EXIT_USAGE",
    "CommandError",
    "Parser",
    "Refused",
    "Unreachable",
    "UsageError",
    "example",
    "http_url",
    "integer",
    "key_value",
    "number",
    "one_line",
    "output_dir",
    "readable_file",
    "run",
]

EXIT_USAGE = 2
EXIT_BACKEND = 1


class CommandError(Exception):
    """A failure the person running the command can act on; the message is the whole story."""

    exit_code = EXIT_USAGE


class UsageError(CommandError):
    """The invocation is wrong (a file, a value, a combination of options)."""

    exit_code = EXIT_USAGE


class Unreachable(CommandError):  # noqa: N818 - reads as the condition it reports
    """A backend did not answer."""

    exit_code = EXIT_BACKEND

    def __init__(self, backend: str, url: str, reason: object) -> None:
        super().__init__(f"cannot reach {backend} at {url}: {one_line(reason)}")


class Refused(CommandError):  # noqa: N818 - reads as the condition it reports
    """A backend answered and refused."""

    exit_code = EXIT_BACKEND


def one_line(text: object, limit: int = 300) -> str:
    """``text`` squeezed onto one line, at most ``limit`` characters."""
    return " ".join(str(text).split())[:limit]


class Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line: the command, the problem, and where to look.

    Subcommand parsers inherit the class (``add_subparsers`` uses the parent's type), so every
    ``fleetobs`` command reports a bad argument the same way. Descriptions and epilogs are kept
    as written, so the example that ends each ``--help`` keeps its lines.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {one_line(message, 500)} (see `{self.prog} --help`)\n")


def example(*commands: str) -> str:
    """An epilog ending ``--help`` with example command lines."""
    return "example:\n" + "\n".join(f"  {command}" for command in commands)


def run(prog: str, func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run a command; its :class:`CommandError` (and a Ctrl-C) becomes one line and an exit status."""
    try:
        return int(func(args) or 0)
    except CommandError as exc:
        return _fail(prog, str(exc), exc.exit_code)
    except ModuleNotFoundError as exc:  # an optional dependency the command needs
        return _fail(
            prog,
            f"needs the {exc.name} package, which is not installed; "
            "pip install 'django-fleet-observability[dev]' brings every optional one",
            EXIT_USAGE,
        )
    except OSError as exc:  # a path the command was given cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(prog, f"{where}{exc.strerror or exc}; check the path and its permissions", EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail(prog, "interrupted", 130)


def _fail(prog: str, message: str, code: int) -> int:
    sys.stderr.write(f"{prog}: {one_line(message, 500)}\n")
    sys.stderr.flush()
    return code


# --- argparse ``type=`` functions: a bad value is argparse's one-line error --------------------


def readable_file(text: str) -> Path:
    """An existing, readable file."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: not a file (a directory?); give a file")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{text}: cannot be read ({exc.strerror or exc})") from None
    return path


def output_dir(text: str) -> Path:
    """A directory to write into: it may not exist yet, but must not be a file."""
    path = Path(text)
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                where = text if candidate == path else f"{text}: {candidate}"
                raise argparse.ArgumentTypeError(
                    f"{where} is a file, not a directory; give a directory to write into"
                )
            break
    return path


def number(
    *, minimum: float | None = None, maximum: float | None = None, exclusive_minimum: bool = False
) -> Callable[[str], float]:
    """A float within bounds (``exclusive_minimum``: strictly above ``minimum``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value != value:  # NaN compares false with every bound  # noqa: PLR0124
            raise argparse.ArgumentTypeError(f"not a number: {text!r}")
        low_ok = minimum is None or (value > minimum if exclusive_minimum else value >= minimum)
        if not low_ok or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(
                f"{text} is out of range ({_bounds(minimum, maximum, exclusive_minimum)})"
            )
        return value

    return parse


def integer(*, minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An integer within bounds."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"{text} is out of range ({_bounds(minimum, maximum, False)})")
        return value

    return parse


def _bounds(minimum: float | None, maximum: float | None, exclusive: bool) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'above' if exclusive else 'at least'} {minimum:g}")
    if maximum is not None:
        parts.append(f"at most {maximum:g}")
    return "must be " + " and ".join(parts)


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` with a non-empty key."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. release=kube-prometheus-stack)")
    return key.strip(), value


def http_url(text: str) -> str:
    """A URL starting with http:// or https://."""
    if not text.startswith(("http://", "https://")) or len(text.split("://", 1)[1]) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL; give one starting with http:// or https://")
    return text
