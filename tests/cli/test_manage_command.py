"""``manage.py fleetobs``: the operations that read the service's own settings.

Run in-process through ``call_command`` and as a real ``python -m django`` process against the
test settings (tests/settings.py). Elasticsearch is the protocol-level fake of the logging tests,
recording the ``Authorization`` header of each request it receives.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from instrumentation import conf
from instrumentation.logging import assets
from instrumentation.management.commands.fleetobs import Command
from tests.logging.es_server import FakeElasticsearch, FakeKibana, _EsHandler
from tests.support.procs import free_port

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "es-key-from-settings-7f3a9c"
PASSWORD = "hunter2-url-password"
BASE = {"SERVICE_NAME": "tests", "LOGGING_CONFIGURE": False, "TRACING_ENABLED": False}


class _RecordingHandler(_EsHandler):
    def _dispatch(self) -> None:
        self.fake.authorizations.append(self.headers.get("Authorization"))
        super()._dispatch()


class RecordingElasticsearch(FakeElasticsearch):
    """The fake Elasticsearch, keeping the ``Authorization`` header of every request."""

    handler = _RecordingHandler

    def __init__(self, api_key: str | None = None) -> None:
        super().__init__(api_key=api_key)
        self.authorizations: list[str | None] = []


@pytest.fixture
def elasticsearch() -> Iterator[RecordingElasticsearch]:
    server = RecordingElasticsearch(api_key=API_KEY)
    server.start()
    yield server
    server.stop()


def manage(*argv: str, **options: Any) -> tuple[str, str]:
    """``manage.py fleetobs ARGV`` in this process: (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("fleetobs", *argv, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def manage_process(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m django fleetobs ARGV`` with the test settings, as a user runs manage.py."""
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FLEETOBS_", "OTEL_"))},
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "django", "fleetobs", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environ,
        timeout=120,
        check=False,
    )


def assert_one_line(err: str) -> str:
    assert "Traceback" not in err
    assert err.count("\n") == 1, f"expected one line on stderr, got:\n{err}"
    return err


# --- settings ----------------------------------------------------------------------------------


def test_the_settings_report_masks_an_api_key_and_a_url_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETOBS_METRICS_TOKEN", "metrics-token-from-the-environment")
    url = f"https://elastic:{PASSWORD}@es.internal:9200"
    with override_settings(
        FLEET_OBSERVABILITY={**BASE, "ELASTICSEARCH_URL": url, "ELASTICSEARCH_API_KEY": API_KEY}
    ):
        conf.reset()
        out, err = manage("settings")
    assert err == ""
    for secret in (API_KEY, PASSWORD, "metrics-token-from-the-environment"):
        assert secret not in out
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in out.splitlines()[1:]}
    assert rows["ELASTICSEARCH_API_KEY"] == ["FLEET_OBSERVABILITY", "[REDACTED]"]
    assert rows["ELASTICSEARCH_URL"] == [
        "FLEET_OBSERVABILITY",
        "'https://elastic:[REDACTED]@es.internal:9200'",
    ]
    assert rows["METRICS_BEARER_TOKEN"] == ["FLEETOBS_METRICS_TOKEN", "[REDACTED]"]
    assert rows["LOG_LEVEL"] == ["default", "'INFO'"]
    assert set(rows) == conf.KNOWN_KEYS


def test_the_settings_report_as_json_names_each_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=shop,deployment.environment.name=staging")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=team-secret,x-tenant=acme")
    with override_settings(FLEET_OBSERVABILITY={"LOG_LEVEL": "LOUD", "METRICS_PORT": "many"}):
        conf.reset()
        out, _ = manage("settings", "--json")
    document = json.loads(out)
    settings = document["settings"]
    assert settings["SERVICE_NAME"] == {"value": "shop", "source": "OTEL_RESOURCE_ATTRIBUTES (service.name)"}
    assert settings["ENVIRONMENT"]["source"] == "OTEL_RESOURCE_ATTRIBUTES (deployment.environment.name)"
    assert settings["OTLP_ENDPOINT"] == {
        "value": "http://collector:4318/v1/traces",
        "source": "OTEL_EXPORTER_OTLP_ENDPOINT",
    }
    assert settings["OTLP_HEADERS"]["value"] == "x-honeycomb-team=[REDACTED],x-tenant=[REDACTED]"
    assert "team-secret" not in out
    assert settings["LOG_LEVEL"]["problem"] == "must be a logging level name, got 'LOUD'"
    assert settings["METRICS_PORT"]["source"] == "FLEET_OBSERVABILITY"
    assert "invalid literal" in settings["METRICS_PORT"]["problem"]
    assert settings["TRACES_SAMPLER"] == {"value": "parentbased_traceidratio", "source": "default"}
    assert document["problems"] == []


def test_the_settings_report_runs_as_a_manage_py_command() -> None:
    result = manage_process(
        "settings",
        "--json",
        env={
            "FLEETOBS_ELASTICSEARCH_API_KEY": API_KEY,
            "FLEETOBS_ELASTICSEARCH_URL": f"http://elastic:{PASSWORD}@127.0.0.1:9200",
        },
    )
    assert result.returncode == 0, result.stderr
    assert API_KEY not in result.stdout
    assert PASSWORD not in result.stdout
    settings = json.loads(result.stdout)["settings"]
    assert settings["ELASTICSEARCH_API_KEY"] == {
        "value": "[REDACTED]",
        "source": "FLEETOBS_ELASTICSEARCH_API_KEY",
    }
    assert settings["ELASTICSEARCH_URL"]["value"] == "http://elastic:[REDACTED]@127.0.0.1:9200"
    assert settings["SERVICE_NAME"] == {"value": "tests", "source": "FLEET_OBSERVABILITY"}


# --- check -------------------------------------------------------------------------------------


def test_check_explains_a_misconfiguration_and_exits_1() -> None:
    with override_settings(MIDDLEWARE=[], FLEET_OBSERVABILITY={**BASE, "TRACES_SAMPLERR": "always_on"}):
        out = io.StringIO()
        with pytest.raises(CommandError) as raised:
            call_command("fleetobs", "check", stdout=out)
    assert raised.value.returncode == 1
    assert str(raised.value) == "1 error(s), 1 other finding(s)"
    text = out.getvalue()
    error, warning, summary = text.strip().split("\n\n")
    assert error.splitlines() == [
        "fleetobs.E001 (error): instrumentation.middleware.ObservabilityMiddleware is not in MIDDLEWARE, "
        "so no request is measured.",
        "    fix:  Add 'instrumentation.middleware.ObservabilityMiddleware' as the first entry of "
        "MIDDLEWARE.",
        error.splitlines()[2],
    ]
    assert error.splitlines()[2].startswith("    docs: ")
    assert error.splitlines()[2].endswith("configuration.md#system-checks")
    assert warning.startswith(
        "fleetobs.W002 (warning): FLEET_OBSERVABILITY has an unknown key 'TRACES_SAMPLERR'"
    )
    assert "    fix:  Did you mean 'TRACES_SAMPLER'?" in warning
    assert summary == "1 error(s), 1 other finding(s)"


def test_check_runs_only_this_apps_checks_and_honours_silenced_ones() -> None:
    with override_settings(
        MIDDLEWARE=[], SILENCED_SYSTEM_CHECKS=["fleetobs.E001"], ROOT_URLCONF="no.such.urlconf"
    ):
        out, _ = manage("check", "--json")
    assert json.loads(out) == []


def test_check_deploy_reports_an_exposed_metrics_endpoint_with_its_docs() -> None:
    settings = {**BASE, "METRICS_ALLOWED_NETWORKS": ["0.0.0.0/0"]}
    with override_settings(FLEET_OBSERVABILITY=settings), pytest.raises(CommandError) as raised:
        manage("check", "--deploy")
    assert raised.value.returncode == 1
    with override_settings(FLEET_OBSERVABILITY=settings):
        out = io.StringIO()
        with pytest.raises(CommandError):
            call_command("fleetobs", "check", "--deploy", "--json", stdout=out)
    found = {finding["id"]: finding for finding in json.loads(out.getvalue())}
    assert set(found) == {"fleetobs.E004", "fleetobs.W003"}
    assert found["fleetobs.E004"]["level"] == "error"
    assert found["fleetobs.E004"]["docs"].endswith("security.md#who-may-read-metrics")
    assert "METRICS_BEARER_TOKEN" in found["fleetobs.E004"]["fix"]


def test_check_as_a_process_prints_the_finding_and_one_line_on_stderr() -> None:
    result = manage_process("check", env={"FLEETOBS_LOG_LEVEL": "LOUD"})
    assert result.returncode == 1
    assert "fleetobs.E003 (error): FLEET_OBSERVABILITY['LOG_LEVEL'] must be a logging level name" in (
        result.stdout
    )
    assert assert_one_line(result.stderr) == "CommandError: 1 error(s), 0 other finding(s)\n"


# --- elasticsearch setup -----------------------------------------------------------------------


def test_elasticsearch_setup_uses_the_configured_url_and_api_key(
    elasticsearch: RecordingElasticsearch,
) -> None:
    settings = {**BASE, "ELASTICSEARCH_URL": elasticsearch.url, "ELASTICSEARCH_API_KEY": API_KEY}
    with override_settings(FLEET_OBSERVABILITY=settings):
        out, err = manage("elasticsearch", "setup", "--retention-days", "14")
    assert elasticsearch.requests == [
        ("PUT", "/_ilm/policy/logs-fleetobs"),
        ("PUT", "/_index_template/logs-fleetobs"),
    ]
    assert elasticsearch.authorizations == [f"ApiKey {API_KEY}"] * 2
    assert elasticsearch.policies["logs-fleetobs"] == assets.ilm_policy(14)
    assert elasticsearch.templates["logs-fleetobs"] == assets.index_template(14)
    assert out.startswith("installed ILM policy logs-fleetobs (delete after 14 days)")
    assert err.splitlines() == [
        "[1/2] ILM policy logs-fleetobs (delete after 14 days) ... ok",
        "[2/2] index template logs-fleetobs ... ok",
    ]


def test_elasticsearch_setup_flags_override_the_settings(elasticsearch: RecordingElasticsearch) -> None:
    settings = {
        **BASE,
        "ELASTICSEARCH_URL": f"http://127.0.0.1:{free_port()}",
        "ELASTICSEARCH_API_KEY": "not-this-one",
    }
    with override_settings(FLEET_OBSERVABILITY=settings):
        out, err = manage(
            "elasticsearch", "setup", "--url", elasticsearch.url, "--api-key", API_KEY, verbosity=0
        )
    assert elasticsearch.authorizations == [f"ApiKey {API_KEY}"] * 2
    assert "installed" in out
    assert err == "", "--verbosity 0 prints no progress"


def test_elasticsearch_setup_with_a_rejected_key_is_refused(elasticsearch: RecordingElasticsearch) -> None:
    settings = {**BASE, "ELASTICSEARCH_URL": elasticsearch.url, "ELASTICSEARCH_API_KEY": "stale-key"}
    with override_settings(FLEET_OBSERVABILITY=settings), pytest.raises(CommandError) as raised:
        manage("elasticsearch", "setup")
    assert raised.value.returncode == 1
    assert "refused PUT _ilm/policy/logs-fleetobs: 401 security_exception" in str(raised.value)
    assert elasticsearch.authorizations == ["ApiKey stale-key"]


def test_elasticsearch_setup_unreachable_is_one_line_naming_the_url_and_exit_1() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = manage_process(
        "elasticsearch", "setup", "--timeout", "5", env={"FLEETOBS_ELASTICSEARCH_URL": url}
    )
    assert result.returncode == 1
    line = assert_one_line(result.stderr)
    assert line.startswith(f"CommandError: cannot reach Elasticsearch at {url}: ")
    assert result.stdout == ""


def test_an_unreachable_url_with_a_password_is_named_without_it() -> None:
    url = f"http://elastic:{PASSWORD}@127.0.0.1:{free_port()}"
    with override_settings(FLEET_OBSERVABILITY={**BASE, "ELASTICSEARCH_URL": url}):
        with pytest.raises(CommandError) as raised:
            manage("elasticsearch", "setup", "--timeout", "5")
    assert raised.value.returncode == 1
    assert PASSWORD not in str(raised.value)
    assert "cannot reach Elasticsearch at http://[REDACTED]@127.0.0.1:" in str(raised.value)


def test_kibana_import_falls_back_to_the_configured_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIBANA_API_KEY", raising=False)
    kibana = FakeKibana().start()
    try:
        with override_settings(FLEET_OBSERVABILITY={**BASE, "ELASTICSEARCH_API_KEY": API_KEY}):
            out, err = manage("kibana", "import", "--url", kibana.url)
    finally:
        kibana.stop()
    assert {key[1] for key in kibana.objects} == {obj["id"] for obj in assets.kibana_objects()}
    assert out.startswith(
        f"imported {len(assets.kibana_objects())} saved objects into Kibana at {kibana.url}"
    )
    assert err == f"[1/1] saved objects ({len(assets.kibana_objects())}) into the default space ... ok\n"


# --- the failure contract ----------------------------------------------------------------------

#: (argv, a phrase the one line must contain); each exits 2.
USAGE_ERRORS = [
    ([], "required: COMMAND"),
    (["nope"], "invalid choice: 'nope'"),
    (["settings", "--yaml"], "unrecognized arguments: --yaml"),
    (["elasticsearch"], "required: COMMAND"),
    (["elasticsearch", "setup"], "no Elasticsearch URL: set ELASTICSEARCH_URL"),
    (["elasticsearch", "setup", "--url", "es:9200"], "is not a URL"),
    (["elasticsearch", "setup", "--url", "http://127.0.0.1:9", "--retention-days", "0"], "out of range"),
    (["elasticsearch", "setup", "--url", "http://127.0.0.1:9", "--timeout", "-1"], "out of range"),
    (["kibana", "import"], "required: --url"),
]


@pytest.mark.parametrize(
    ("argv", "phrase"), USAGE_ERRORS, ids=[" ".join(a) or "(none)" for a, _ in USAGE_ERRORS]
)
def test_a_usage_error_raises_with_returncode_2(argv: list[str], phrase: str) -> None:
    with pytest.raises(CommandError) as raised:
        manage(*argv)
    assert raised.value.returncode == 2
    assert phrase in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [USAGE_ERRORS[1], USAGE_ERRORS[4], USAGE_ERRORS[5], USAGE_ERRORS[8]],
    ids=["invalid choice", "no url", "bad url", "missing --url"],
)
def test_a_usage_error_as_a_process_is_one_line_and_exit_2(argv: list[str], phrase: str) -> None:
    result = manage_process(*argv)
    assert result.returncode == 2
    assert phrase in assert_one_line(result.stderr)


def test_the_elasticsearch_url_setting_must_be_a_url() -> None:
    with override_settings(FLEET_OBSERVABILITY={**BASE, "ELASTICSEARCH_URL": "es.internal:9200"}):
        with pytest.raises(CommandError) as raised:
            manage("elasticsearch", "setup")
    assert raised.value.returncode == 2
    assert str(raised.value) == "ELASTICSEARCH_URL is not a URL; give one starting with http:// or https://"


def _parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield " ".join(("manage.py fleetobs", *path)), parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


_PARSERS = list(_parsers(Command().create_parser("manage.py", "fleetobs")))


@pytest.mark.parametrize(("name", "parser"), _PARSERS, ids=[name for name, _ in _PARSERS])
def test_help_ends_with_an_example(name: str, parser: argparse.ArgumentParser) -> None:
    lines = [line for line in parser.format_help().splitlines() if line.strip()]
    assert "example:" in lines, f"`{name} --help` has no example"
    after = lines[lines.index("example:") + 1 :]
    assert after
    assert all(line.startswith("  python manage.py fleetobs ") for line in after)
