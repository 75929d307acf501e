"""Process-wide state: every module's reset registered in one place.

A module that keeps state in module-level variables (a cache, a registry of metric objects, an
installed pipeline, a connected signal) registers the function that forgets it with
:func:`on_reset`, next to the state it resets. :func:`reset_all` calls them all, the most
recently imported first (a module is imported after those it depends on, so a pipeline is
uninstalled before the settings it was built from are forgotten). Tests and
:func:`instrumentation.testing.reset_all` use it; a test proves on the state of every module,
not on this list, that nothing is left behind.

This module imports nothing from the package: every layer may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["on_reset", "registered", "reset_all"]

_Reset = TypeVar("_Reset", bound=Callable[[], None])

#: ``module.function`` -> the reset, in the order the modules were imported.
_resets: dict[str, Callable[[], None]] = {}


def on_reset(reset: _Reset) -> _Reset:
    """Register ``reset`` (a function without arguments) with :func:`reset_all`; returns it, so
    it can decorate the function."""
    _resets[f"{reset.__module__}.{reset.__qualname__}"] = reset
    return reset


def registered() -> list[str]:
    """The names of the registered resets, in the order :func:`reset_all` calls them."""
    return list(reversed(_resets))


def reset_all() -> None:
    """Forget every module's state, the most recently imported module first."""
    for reset in reversed(list(_resets.values())):
        reset()
