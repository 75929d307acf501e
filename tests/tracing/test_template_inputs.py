"""Template tracing is transparent: every template renders exactly as it does untraced.

Templates from strings (no name) and from loaders, plain and request contexts, missing
variables, filters that raise: the output, or the exception, is the same with the wrapper in
place, and each render is one INTERNAL span named after the template.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.template import Context, Engine, Template, TemplateSyntaxError
from django.template.context import RequestContext
from django.test import RequestFactory
from opentelemetry import trace

from instrumentation.tracing import contrib
from instrumentation.tracing.testing import capture_spans

ENGINE = Engine(
    loaders=[("django.template.loaders.locmem.Loader", {"page.html": "<p>{{ name|upper }}</p>"})],
    string_if_invalid="",
)
CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("string", ENGINE.from_string("hello {{ who }}"), {"who": "world"}),
    ("missing variable", ENGINE.from_string("[{{ nothing.here }}]"), {}),
    ("loader", ENGINE.get_template("page.html"), {"name": "ada"}),
    ("non-text value", ENGINE.from_string("{{ value }}"), {"value": object()}),
    ("raising filter", ENGINE.from_string("{{ value|add:'x' }}{{ value.explode }}"), {"value": 1}),
    ("for loop", ENGINE.from_string("{% for i in items %}{{ i }}{% endfor %}"), {"items": range(3)}),
]


def outcome(template: Any, context: dict[str, Any], request: bool) -> tuple[str, str]:
    try:
        made = RequestContext(RequestFactory().get("/"), context) if request else Context(context)
        rendered = template.render(made)
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome compared
        return ("error", f"{type(exc).__name__}: {exc}")
    return ("value", rendered.split(" at 0x")[0])


@pytest.mark.parametrize("request_context", [False, True])
@pytest.mark.parametrize(("label", "template", "context"), CASES, ids=[c[0] for c in CASES])
def test_rendering_is_unchanged_by_the_wrapper(
    label: str, template: Any, context: dict[str, Any], request_context: bool
) -> None:
    bare = outcome(template, context, request_context)
    patch = contrib._TemplatePatch()
    try:
        with capture_spans() as spans, trace.get_tracer(__name__).start_as_current_span("request"):
            traced = outcome(template, context, request_context)
    finally:
        patch.uninstrument()
    assert traced == bare
    rendered = [span for span in spans.get_finished_spans() if span.name.startswith("render ")]
    assert len(rendered) == 1, [span.name for span in spans.get_finished_spans()]
    assert Template.render is patch._original


def test_a_syntax_error_is_raised_as_without_the_wrapper() -> None:
    patch = contrib._TemplatePatch()
    try:
        with pytest.raises(TemplateSyntaxError):
            ENGINE.from_string("{% if %}")
    finally:
        patch.uninstrument()
