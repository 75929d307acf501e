"""``manage.py fleetobs``: the ``fleetobs`` operations that need the service's own settings.

::

    manage.py fleetobs settings [--json]            the effective configuration, secrets masked
    manage.py fleetobs check [--deploy] [--json]    this app's system checks, each explained
    manage.py fleetobs elasticsearch setup [--url URL] [--api-key KEY] [--retention-days N]
    manage.py fleetobs kibana import --url URL [--api-key KEY] [--space ID]

``elasticsearch setup`` reads ``ELASTICSEARCH_URL`` and ``ELASTICSEARCH_API_KEY`` from the
settings (``FLEET_OBSERVABILITY`` or their environment variables); flags override them.
``kibana import`` takes Kibana's URL as a flag (the service has no setting for it) and, without
``--api-key`` or ``KIBANA_API_KEY``, the configured Elasticsearch API key.

It fails as the ``fleetobs`` command does: a usage error is one line on stderr and exit 2, a
backend that cannot be reached or refuses is one line naming its URL and exit 1, never a
traceback (Django's ``CommandError`` with its ``returncode``). ``check`` exits 1 when it finds
an error. System checks do not run first: ``settings`` and ``check`` are how to look into a
configuration that fails them.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser, DjangoHelpFormatter

import fleetobs_cli
from fleetobs_cli import example, http_url, number, one_line
from fleetobs_cli.progress import quiet_argument
from instrumentation import conf
from instrumentation.logging.cli import elasticsearch_setup, kibana_import, retention_argument
from instrumentation.management import check_report, settings_report

_seconds = number(minimum=0, exclusive_minimum=True)


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order, with the epilog's example lines kept as written."""


class _Parser(CommandParser):
    """Django's parser, with its errors on one line (the ``fleetobs`` command's contract)."""

    def error(self, message: str) -> NoReturn:
        if self.called_from_command_line:
            self.exit(
                fleetobs_cli.EXIT_USAGE, f"{self.prog}: {one_line(message, 500)} (see `{self.prog} --help`)\n"
            )
        raise CommandError(one_line(message, 500), returncode=fleetobs_cli.EXIT_USAGE)


def _add(commands: Any, name: str, help_text: str, *examples: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=help_text, description=help_text, epilog=example(*examples), formatter_class=_HelpFormatter
    )
    return parser


def _add_group(
    commands: Any,
    group: tuple[str, str, str],
    command: tuple[str, str, str],
) -> argparse.ArgumentParser:
    """A group (``elasticsearch``, ``kibana``) with its one subcommand, each given as
    ``(name, help, example)``; returns the subcommand's parser."""
    name, help_text, group_example = group
    group_commands = _add(commands, name, help_text, group_example).add_subparsers(
        dest=f"{name}_command", metavar="COMMAND", required=True, parser_class=_Parser
    )
    return _add(group_commands, *command)


class Command(BaseCommand):
    help = (
        "Fleet Observability operations that use this service's settings: the effective "
        "configuration, the app's system checks explained, Elasticsearch and Kibana setup. "
        "Exit status: 0 done, 1 a backend could not be reached or refused (check: an error found), "
        "2 a usage error."
    )
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        kwargs.setdefault(
            "epilog",
            example(
                "python manage.py fleetobs settings --json",
                "python manage.py fleetobs elasticsearch setup",
            ),
        )
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = _Parser  # one-line errors (the subcommands get the class in add_arguments)
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(
            dest="fleetobs_command", metavar="COMMAND", required=True, parser_class=_Parser
        )

        report = _add(
            commands,
            "settings",
            "print the effective FLEET_OBSERVABILITY configuration: each value, where it came from, "
            "secrets masked",
            "python manage.py fleetobs settings --json",
        )
        report.add_argument("--json", action="store_true", help="print it as JSON")

        check = _add(
            commands,
            "check",
            "run this app's system checks and explain each finding (exit 1 on an error)",
            "python manage.py fleetobs check --deploy",
        )
        check.add_argument("--deploy", action="store_true", help="also the deployment checks")
        check.add_argument("--json", action="store_true", help="print the findings as JSON")

        setup = _add_group(
            commands,
            (
                "elasticsearch",
                "install the Elasticsearch log assets",
                "python manage.py fleetobs elasticsearch setup",
            ),
            (
                "setup",
                "install the ILM policy and the index template into the configured Elasticsearch",
                "python manage.py fleetobs elasticsearch setup --retention-days 14",
            ),
        )
        setup.add_argument("--url", type=http_url, help="Elasticsearch URL (default: ELASTICSEARCH_URL)")
        setup.add_argument("--api-key", help="API key (default: ELASTICSEARCH_API_KEY)")
        retention_argument(setup)
        setup.add_argument("--timeout", type=_seconds, default=10.0, help="seconds per request (default: 10)")
        quiet_argument(setup)

        load = _add_group(
            commands,
            (
                "kibana",
                "load the Kibana saved objects",
                "python manage.py fleetobs kibana import --url http://localhost:5601",
            ),
            (
                "import",
                "import the data view, searches and dashboard",
                "python manage.py fleetobs kibana import --url http://localhost:5601 --space ops",
            ),
        )
        load.add_argument(
            "--url", type=http_url, required=True, help="Kibana URL, e.g. http://localhost:5601"
        )
        load.add_argument(
            "--api-key",
            help="API key (default: $KIBANA_API_KEY, else ELASTICSEARCH_API_KEY)",
        )
        load.add_argument("--space", default=None, help="Kibana space id (default: the default space)")
        load.add_argument("--timeout", type=_seconds, default=10.0, help="seconds per request (default: 10)")
        quiet_argument(load)

    def handle(self, *args: Any, **options: Any) -> None:
        command = options["fleetobs_command"]
        try:
            if command == "settings":
                self._settings(options)
            elif command == "check":
                self._check(options)
            elif command == "elasticsearch":
                self._elasticsearch_setup(options)
            else:
                self._kibana_import(options)
        except fleetobs_cli.CommandError as exc:
            raise CommandError(one_line(exc, 500), returncode=exc.exit_code) from None

    @staticmethod
    def _quiet(options: dict[str, Any]) -> bool:
        return bool(options["quiet"] or options["verbosity"] == 0)

    def _settings(self, options: dict[str, Any]) -> None:
        items = settings_report.entries()
        render = settings_report.render_json if options["json"] else settings_report.render_text
        self.stdout.write(render(items), ending="")

    def _check(self, options: dict[str, Any]) -> None:
        found = check_report.findings(deploy=options["deploy"])
        render = check_report.render_json if options["json"] else check_report.render_text
        self.stdout.write(render(found), ending="")
        if any(finding.is_error for finding in found):
            raise CommandError(check_report.summary(found), returncode=1)

    def _elasticsearch_setup(self, options: dict[str, Any]) -> None:
        settings = conf.get_settings()
        url = options["url"] or settings.elasticsearch_url
        if not url:
            raise fleetobs_cli.UsageError(
                "no Elasticsearch URL: set ELASTICSEARCH_URL in FLEET_OBSERVABILITY "
                "(or FLEETOBS_ELASTICSEARCH_URL), or pass --url"
            )
        if not options["url"]:
            try:
                http_url(url)
            except argparse.ArgumentTypeError:
                raise fleetobs_cli.UsageError(
                    "ELASTICSEARCH_URL is not a URL; give one starting with http:// or https://"
                ) from None
        summary = elasticsearch_setup(
            url,
            options["api_key"] or settings.elasticsearch_api_key,
            retention_days=options["retention_days"],
            timeout=options["timeout"],
            quiet=self._quiet(options),
            stream=self.stderr,
        )
        self.stdout.write(summary)

    def _kibana_import(self, options: dict[str, Any]) -> None:
        api_key = (
            options["api_key"]
            or os.environ.get("KIBANA_API_KEY")
            or conf.get_settings().elasticsearch_api_key
        )
        summary = kibana_import(
            options["url"],
            api_key,
            space=options["space"],
            timeout=options["timeout"],
            quiet=self._quiet(options),
            stream=self.stderr,
        )
        self.stdout.write(summary)
