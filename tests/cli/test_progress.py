"""Long commands report each finished step on stderr; stdout keeps only their result."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

import fleetobs
from fleetobs_cli.progress import Progress
from tests.logging.es_server import FakeElasticsearch, _EsHandler
from tests.support.procs import free_port


class _NoTemplatesHandler(_EsHandler):
    def _dispatch(self) -> None:
        if self.path.startswith("/_index_template/"):
            self._body()
            self._es(403, {"error": {"type": "security_exception", "reason": "no manage_index_templates"}})
            return
        super()._dispatch()


class NoTemplatesElasticsearch(FakeElasticsearch):
    """Takes the ILM policy, refuses the index template (a key without the privilege)."""

    handler = _NoTemplatesHandler


@pytest.fixture
def elasticsearch() -> Iterator[FakeElasticsearch]:
    server = FakeElasticsearch()
    server.start()
    yield server
    server.stop()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = fleetobs.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_elasticsearch_setup_prints_each_step_on_stderr(
    elasticsearch: FakeElasticsearch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["elasticsearch", "setup", "--url", elasticsearch.url], capsys)
    assert code == 0, err
    assert err.splitlines() == [
        "[1/2] ILM policy logs-fleetobs (delete after 30 days) ... ok",
        "[2/2] index template logs-fleetobs ... ok",
    ]
    assert out.splitlines() == [
        "installed ILM policy logs-fleetobs (delete after 30 days) and index template logs-fleetobs "
        "for logs-fleetobs-*"
    ]


def test_quiet_leaves_stderr_empty(
    elasticsearch: FakeElasticsearch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["elasticsearch", "setup", "--url", elasticsearch.url, "--quiet"], capsys)
    assert code == 0
    assert err == ""
    assert out.startswith("installed ILM policy")


def test_a_failing_step_is_the_last_line_after_the_steps_that_succeeded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = NoTemplatesElasticsearch().start()
    try:
        code, out, err = run(["elasticsearch", "setup", "--url", server.url], capsys)
    finally:
        server.stop()
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        "[1/2] ILM policy logs-fleetobs (delete after 30 days) ... ok",
        f"fleetobs: Elasticsearch at {server.url} refused PUT _index_template/logs-fleetobs: "
        "403 security_exception: no manage_index_templates",
    ]


def test_the_doctor_reports_each_check_on_stderr_and_its_report_on_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = run(["doctor", "--prometheus", url, "--timeout", "5"], capsys)
    assert code == 2
    assert err.splitlines() == [
        f"[{n}/5] {name} ... skipped (Prometheus unreachable)"
        for n, name in enumerate(("Targets", "Labels", "Dashboards", "Rules", "Cardinality"), start=1)
    ]
    assert "CANNOT CHECK" in out
    code, out, err = run(["doctor", "--prometheus", url, "--timeout", "5", "--json", "-q"], capsys)
    assert code == 2
    assert err == ""
    assert out.lstrip().startswith("{")


def test_steps_are_numbered_to_the_width_of_the_total() -> None:
    stream = io.StringIO()
    progress = Progress(10, stream=stream)
    progress.done("first")
    progress.done("second", "3 finding(s)")
    assert stream.getvalue() == "[ 1/10] first ... ok\n[ 2/10] second ... 3 finding(s)\n"
    quiet = Progress(1, quiet=True, stream=stream)
    quiet.done("unseen")
    assert quiet.done_steps == 1
    assert "unseen" not in stream.getvalue()
