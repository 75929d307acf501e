"""Django cache operations, for every backend: counted, timed, hit or miss, and traced.

Each backend instance is wrapped as the cache handler creates it (so the alias is known), by
replacing its public methods on the instance, not by swapping the backend class. ``get`` is
called with a private sentinel as default, so a hit and a miss are told apart exactly even when
the cached value is ``None``. Backends that implement one operation through another (the base
``get_many`` calls ``get``) are counted once: nested calls are not recorded. The async methods
of Django's backends delegate to these, so they are covered too.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.core.cache import CacheHandler

from instrumentation import tracing
from instrumentation._safety import internal_error
from instrumentation.lifecycle import on_reset
from instrumentation.metrics import enabled as metrics_enabled
from instrumentation.metrics import fast
from instrumentation.metrics.registry import get

_WRAPPED = (
    "get",
    "set",
    "add",
    "delete",
    "get_many",
    "set_many",
    "delete_many",
    "has_key",
    "incr",
    "decr",
    "touch",
    "clear",
)
_MISSING = object()
_inside: ContextVar[bool] = ContextVar("fleetobs_cache_inside", default=False)
_children: dict[tuple[str, str, str], Any] = {}
_durations: dict[tuple[str, str], Any] = {}
#: ``CacheHandler.create_connection`` as :func:`instrument` found it (``None``: not installed).
_original_create_connection: Callable[[CacheHandler, str], Any] | None = None


def _count(alias: str, operation: str, result: str, amount: int = 1) -> None:
    key = (alias, operation, result)
    child = _children.get(key)
    if child is None:
        child = _children[key] = get("fleetobs_cache_operations").labels(alias, operation, result)
    if amount:
        child.inc(amount)


def _observe(alias: str, operation: str, seconds: float) -> None:
    key = (alias, operation)
    child = _durations.get(key)
    if child is None:
        child = _durations[key] = fast.wrap(
            get("fleetobs_cache_operation_duration_seconds").labels(alias, operation)
        )
    child.observe(seconds)


def _record(
    alias: str,
    operation: str,
    args: tuple[Any, ...],
    result: Any,
    error: BaseException | None,
    seconds: float,
) -> None:
    _observe(alias, operation, seconds)
    if error is not None:
        _count(alias, operation, "error")
    elif operation == "get":
        _count(alias, operation, "miss" if result is _MISSING else "hit")
    elif operation == "has_key":
        _count(alias, operation, "hit" if result else "miss")
    elif operation == "get_many":
        hits = len(result)
        wanted = len(args[0]) if args else hits
        _count(alias, operation, "hit", hits)
        _count(alias, operation, "miss", max(0, wanted - hits))
    else:
        _count(alias, operation, "ok")


def _wrap(alias: str, operation: str, method: Callable[..., Any]) -> Callable[..., Any]:
    span_name = f"cache.{operation} {alias}"

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _inside.get():
            return method(*args, **kwargs)
        default = _MISSING
        if operation == "get":
            # get(key, default=None, version=None): ask for our sentinel to see a miss.
            if len(args) > 1:
                default, args = args[1], (args[0], _MISSING, *args[2:])
            else:
                default = kwargs.pop("default", None)
                kwargs["default"] = _MISSING
        if operation == "get_many" and args and not isinstance(args[0], list | tuple):
            args = (list(args[0]), *args[1:])
        span = None
        try:
            span = tracing.start_span(
                span_name, {"db.system": "django-cache", "cache.alias": alias, "db.operation.name": operation}
            )
        except Exception as exc:  # noqa: BLE001 - the cache call must run whatever tracing does
            internal_error(exc, "cache.span")
        token = _inside.set(True)
        start = time.perf_counter()
        result: Any = None
        error: BaseException | None = None
        try:
            result = method(*args, **kwargs)
        except Exception as exc:
            error = exc
            raise
        finally:
            _inside.reset(token)
            try:
                if metrics_enabled():
                    _record(alias, operation, args, result, error, time.perf_counter() - start)
                if span is not None:
                    tracing.end_span(span, error)
            except Exception as exc:  # noqa: BLE001
                internal_error(exc, "cache.record")
        if operation == "get" and result is _MISSING:
            return default
        return result

    wrapper.__fleetobs_wrapped__ = True  # type: ignore[attr-defined]
    return wrapper


def instrument_backend(backend: Any, alias: str) -> Any:
    """Wrap the public methods of one cache backend instance (idempotent)."""
    for operation in _WRAPPED:
        method = getattr(backend, operation, None)
        if method is None or getattr(method, "__fleetobs_wrapped__", False):
            continue
        setattr(backend, operation, _wrap(alias, operation, method))
    return backend


def instrument() -> None:
    """Wrap every cache backend the handler creates from now on (idempotent)."""
    global _original_create_connection
    if _original_create_connection is not None:
        return
    original = _original_create_connection = CacheHandler.create_connection

    def create_connection(self: CacheHandler, alias: str) -> Any:
        backend = original(self, alias)
        try:
            instrument_backend(backend, alias)
        except Exception as exc:  # noqa: BLE001
            internal_error(exc, "cache.instrument")
        return backend

    CacheHandler.create_connection = create_connection  # type: ignore[method-assign]
    from django.core.cache import caches

    for alias in caches.settings:
        # Backends created before ready() (rare): the handler keeps them per alias.
        backend = getattr(caches._connections, alias, None)  # type: ignore[attr-defined]
        if backend is not None:
            instrument_backend(backend, alias)


def uninstrument() -> None:
    global _original_create_connection
    original = _original_create_connection
    if original is None:
        return
    CacheHandler.create_connection = original  # type: ignore[method-assign,assignment]
    _original_create_connection = None
    from django.core.cache import caches

    for backend in caches.all(initialized_only=True):
        for operation in _WRAPPED:
            if getattr(backend.__dict__.get(operation), "__fleetobs_wrapped__", False):
                delattr(backend, operation)


@on_reset
def reset() -> None:
    _children.clear()
    _durations.clear()
