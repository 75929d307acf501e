"""Celery's signal receivers take whatever Celery (or a task's own code) sends them.

Hypothesis drives every receiver with the shapes Celery's documented signal arguments can
take: a task name or a task object as sender, headers with or without an id (or none at all),
an ``eta`` that is a datetime, an ISO string, garbage or missing, a request without the
attributes a worker sets, results and exceptions of any kind, receivers called out of order
(postrun without prerun, after_publish without before_publish). Internal errors raise in the
test suite, so a receiver that only survived by its error boundary fails here too.
"""

from __future__ import annotations

import contextlib
import contextvars
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from instrumentation import celery
from instrumentation.tracing.testing import capture_spans

texts = st.one_of(st.none(), st.text(max_size=20))
etas = st.one_of(
    st.none(),
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(),
    st.datetimes().map(datetime.isoformat),
    st.text(max_size=10),
    st.integers(),
)
headers = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "id": texts,
            "task": texts,
            "eta": etas,
            celery.PUBLISHED_AT_HEADER: st.one_of(st.floats(allow_nan=False), st.text(max_size=5)),
        },
    ),
)


def task_objects() -> st.SearchStrategy[Any]:
    request = st.builds(
        SimpleNamespace,
        headers=st.one_of(st.none(), headers),
        eta=etas,
        **{celery.PUBLISHED_AT_HEADER: st.one_of(st.none(), st.floats(allow_nan=False))},
    )
    bare_request = st.builds(SimpleNamespace)
    return st.one_of(
        st.none(),
        st.text(max_size=10),
        st.builds(SimpleNamespace, name=texts, request=st.one_of(request, bare_request)),
        st.builds(SimpleNamespace),
    )


outcomes = st.one_of(
    st.none(), st.integers(), st.text(max_size=5), st.builds(ValueError, st.text(max_size=5))
)


@settings(max_examples=200, deadline=None)
@given(
    sender=task_objects(),
    publish_headers=headers,
    routing_key=st.one_of(st.none(), st.text(max_size=5)),
    task_id=texts,
    task=task_objects(),
    exception=st.one_of(st.none(), st.builds(RuntimeError, st.text(max_size=10))),
    retval=outcomes,
    state=st.one_of(st.none(), st.sampled_from(["SUCCESS", "FAILURE", "RETRY"]), st.text(max_size=5)),
    order=st.permutations(["before", "after", "prerun", "failure", "postrun"]),
    traced=st.booleans(),
)
def test_receivers_never_raise(
    sender: Any,
    publish_headers: dict[str, Any] | None,
    routing_key: str | None,
    task_id: str | None,
    task: Any,
    exception: BaseException | None,
    retval: Any,
    state: str | None,
    order: list[str],
    traced: bool,
) -> None:
    calls = {
        "before": lambda: celery._on_before_publish(
            sender=sender, headers=publish_headers, routing_key=routing_key, body=(), exchange=""
        ),
        "after": lambda: celery._on_after_publish(sender=sender, headers=publish_headers, body=()),
        "prerun": lambda: celery._on_prerun(task_id=task_id, task=task, args=(), kwargs={}),
        "failure": lambda: celery._on_failure(task_id=task_id, exception=exception, sender=task),
        "postrun": lambda: celery._on_postrun(task_id=task_id, task=task, retval=retval, state=state),
    }

    def run() -> None:
        with capture_spans() if traced else contextlib.nullcontext():
            for name in order:
                calls[name]()

    # Receivers called out of order leave a task's span current and its bookkeeping behind, as
    # they would in a worker thread Celery never finishes: keep that out of the other tests.
    try:
        contextvars.copy_context().run(run)
    finally:
        celery._publishing.clear()
        celery._running.clear()
