"""The cache wrapper is transparent: any sequence of calls Django's cache API accepts gives the
same results and the same exceptions on a wrapped backend as on a bare one.

Hypothesis draws operations with odd-but-legal arguments (keys of any text, ``None`` and
falsy values, positional and keyword defaults, versions, generators for ``get_many`` and
``delete_many``, ``incr`` of a missing or non-numeric key) and runs each on two LocMem caches,
one wrapped by the instrumentation, comparing every outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from hypothesis import given, settings
from hypothesis import strategies as st

from instrumentation import cache

keys = st.one_of(
    st.sampled_from(["a", "b", "ключ", "with space", "x" * 200]), st.text(min_size=1, max_size=20)
)
values = st.one_of(
    st.none(), st.integers(), st.text(max_size=5), st.just(0), st.just(""), st.lists(st.integers())
)
versions = st.one_of(st.none(), st.integers(min_value=1, max_value=3))


def _op(name: str, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
    def run(backend: Any) -> Any:
        materialised = tuple(
            iter(list(a)) if isinstance(a, list) and name.endswith("_many") else a for a in args
        )
        return getattr(backend, name)(*materialised, **kwargs)

    run.__name__ = f"{name}{args}{kwargs}"
    return run


operations = st.one_of(
    st.builds(lambda k, v: _op("set", k, v), keys, values),
    st.builds(lambda k, v, ver: _op("set", k, v, version=ver), keys, values, versions),
    st.builds(lambda k: _op("get", k), keys),
    st.builds(lambda k, d: _op("get", k, d), keys, values),
    st.builds(lambda k, d: _op("get", k, default=d), keys, values),
    st.builds(lambda k, ver: _op("get", k, version=ver), keys, versions),
    st.builds(lambda k, v: _op("add", k, v), keys, values),
    st.builds(lambda k: _op("delete", k), keys),
    st.builds(lambda ks: _op("get_many", ks), st.lists(keys, max_size=4)),
    st.builds(lambda ks: _op("delete_many", ks), st.lists(keys, max_size=4)),
    st.builds(lambda d: _op("set_many", d), st.dictionaries(keys, values, max_size=3)),
    st.builds(lambda k: _op("has_key", k), keys),
    st.builds(lambda k, n: _op("incr", k, n), keys, st.integers(-3, 3)),
    st.builds(lambda k: _op("decr", k), keys),
    st.builds(lambda k: _op("touch", k, None), keys),
    st.just(_op("clear")),
)


def outcome(call: Callable[[Any], Any], backend: Any) -> tuple[str, Any]:
    try:
        return ("value", call(backend))
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome compared
        return ("error", (type(exc).__name__, str(exc)))


@settings(max_examples=200, deadline=None)
@given(st.lists(operations, min_size=1, max_size=12))
def test_wrapped_cache_answers_exactly_as_the_bare_one(sequence: list[Callable[[Any], Any]]) -> None:
    bare = LocMemCache("fleetobs-bare", {})
    wrapped = cache.instrument_backend(LocMemCache("fleetobs-wrapped", {}), "props")
    bare.clear()
    wrapped.clear()
    for call in sequence:
        assert outcome(call, wrapped) == outcome(call, bare), call.__name__
