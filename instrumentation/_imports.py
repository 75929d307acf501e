"""Run a function once a module is imported: now if it already is, otherwise right after its
import, wherever and whenever that happens.

Instrumenting an optional library (Celery) needs its module objects, but importing a library
only to connect to it costs every process that never uses it its whole import (Celery's is
about 40 ms and 8 MiB). :func:`after_import` defers the work to the moment the application
itself imports the library: a finder first on ``sys.meta_path`` lets the normal finders find
the module, then wraps its loader so the callbacks run once the module has executed.

Callbacks run under the import lock, with the module complete in ``sys.modules``; one that
raises is reported through :func:`instrumentation._safety.internal_error` and never fails the
import. :func:`reset` removes the finder and forgets callbacks not yet run.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from instrumentation._safety import internal_error
from instrumentation.lifecycle import on_reset

__all__ = ["after_import", "cancel", "pending", "reset"]

_lock = threading.RLock()
#: Module name -> callbacks waiting for its import.
_waiting: dict[str, list[Callable[[ModuleType], None]]] = {}


def after_import(name: str, callback: Callable[[ModuleType], None]) -> None:
    """Call ``callback(module)`` now if ``name`` is imported, otherwise right after its import."""
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            _waiting.setdefault(name, []).append(callback)
            if _FINDER not in sys.meta_path:
                sys.meta_path.insert(0, _FINDER)
            return
    _run(name, module, [callback])


def cancel(name: str, callback: Callable[[ModuleType], None]) -> None:
    """Forget ``callback`` if it still waits for ``name``."""
    with _lock:
        callbacks = _waiting.get(name)
        if callbacks is None:
            return
        callbacks[:] = [waiting for waiting in callbacks if waiting != callback]
        if not callbacks:
            del _waiting[name]
            if not _waiting and _FINDER in sys.meta_path:
                sys.meta_path.remove(_FINDER)


def pending() -> list[str]:
    """Names of the modules some callback still waits for."""
    with _lock:
        return sorted(_waiting)


def _run(name: str, module: ModuleType, callbacks: Sequence[Callable[[ModuleType], None]]) -> None:
    for callback in callbacks:
        try:
            callback(module)
        except Exception as exc:  # noqa: BLE001 - instrumenting must never fail the app's import
            internal_error(exc, f"imports.{name}")


class _NotifyingLoader(importlib.abc.Loader):
    """The module's own loader, then the callbacks waiting for it."""

    def __init__(self, name: str, loader: Any) -> None:
        self._name = name
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        module: ModuleType | None = create(spec) if create is not None else None
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The module's own loader is what importlib, inspect and importlib.resources expect.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        with _lock:
            callbacks = _waiting.pop(self._name, [])
            if not _waiting and _FINDER in sys.meta_path:
                sys.meta_path.remove(_FINDER)
        _run(self._name, sys.modules.get(self._name, module), callbacks)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._loader, attribute)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: asks the other finders, and wraps the loader of a watched module."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _waiting:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec: importlib.machinery.ModuleSpec | None = find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _NotifyingLoader(fullname, spec.loader)
                return spec
        return None


_FINDER = _Finder()


@on_reset
def reset() -> None:
    """Remove the finder and forget the callbacks still waiting."""
    with _lock:
        _waiting.clear()
        if _FINDER in sys.meta_path:
            sys.meta_path.remove(_FINDER)
