"""The execute wrapper never changes what the driver is given or what it answers.

Hypothesis feeds the wrapper arbitrary statement objects and parameters; a stand-in driver
records what reached it and answers or raises. Whatever the input, the same object reaches the
driver, its answer comes back and its exception propagates, identical, and the wrapper itself
raises nothing (internal errors raise in the test suite, so any fault of ours would show).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instrumentation import db

pytestmark = pytest.mark.django_db


class Weird:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


class Unhashable(str):
    __hash__ = None  # type: ignore[assignment]


class FakeComposable:
    """An ``as_string`` that fails with every context, as a broken composition might."""

    def as_string(self, context: Any) -> str:
        raise ValueError("cannot render")


statements = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300),
    st.binary(max_size=50).map(bytearray),
    st.integers(),
    st.none(),
    st.floats(allow_nan=True),
    st.lists(st.text(max_size=10), max_size=3),
    st.builds(Weird),
    st.builds(FakeComposable),
    st.text(max_size=50).map(Unhashable),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
parameters = st.one_of(
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.lists(st.integers(), max_size=3).map(iter),  # executemany's generator: never consumed by us
)


class DriverError(Exception):
    pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sql=statements, params=parameters, many=st.booleans(), fails=st.booleans())
def test_wrapper_passes_everything_through(sql: Any, params: Any, many: bool, fails: bool) -> None:
    seen: list[tuple[Any, Any, bool]] = []
    answer = object()

    def execute(sql_: Any, params_: Any, many_: bool, context: dict[str, Any]) -> Any:
        seen.append((sql_, params_, many_))
        if fails:
            raise DriverError("from the driver")
        return answer

    context = {"connection": connection, "cursor": None}
    if fails:
        with pytest.raises(DriverError, match="from the driver"):
            db._execute_wrapper(execute, sql, params, many, context)
    else:
        assert db._execute_wrapper(execute, sql, params, many, context) is answer
    assert len(seen) == 1
    assert seen[0][0] is sql
    assert seen[0][1] is params
    assert seen[0][2] is many
