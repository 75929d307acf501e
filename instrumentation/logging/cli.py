"""``fleetobs elasticsearch ...`` and ``fleetobs kibana ...``: install the log assets.

``elasticsearch setup --url URL [--api-key KEY] [--retention-days N] [--quiet]``
    PUT the ILM policy, then the index template (both replace what is there: idempotent).
``elasticsearch assets --out DIR [--retention-days N]``
    write ``ilm-policy.json``, ``index-template.json`` and ``kibana-saved-objects.ndjson``.
``kibana import --url URL [--api-key KEY] [--quiet]``
    POST the saved objects to Kibana's import API with ``overwrite=true`` (idempotent).

:func:`elasticsearch_setup` and :func:`kibana_import` do the work for these commands and for
``manage.py fleetobs``, which takes the URL and credentials from the service's settings. Each
finished step is a progress line on stderr (see :mod:`fleetobs_cli.progress`); the summary goes
to stdout. Failures print one line on stderr: exit 2 for a bad argument, 1 when the server cannot
be reached (the line names its URL) or answers with an error (authentication, permissions, a bad
request), as every ``fleetobs`` command does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleetobs_cli import (
    EXIT_BACKEND,
    EXIT_USAGE,
    CommandError,
    Refused,
    Unreachable,
    UsageError,
    example,
    http_url,
    integer,
    number,
    one_line,
    output_dir,
)
from fleetobs_cli.progress import Progress, Writable, quiet_argument
from instrumentation.logging import assets

UNREACHABLE = EXIT_BACKEND
REFUSED = EXIT_BACKEND
USAGE = EXIT_USAGE


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``elasticsearch`` and ``kibana`` commands."""
    es = subparsers.add_parser(
        "elasticsearch",
        help="install or write the Elasticsearch log assets",
        epilog=example(
            "fleetobs elasticsearch setup --url http://localhost:9200",
            "fleetobs elasticsearch assets --out es/",
        ),
    )
    es_commands = es.add_subparsers(dest="elasticsearch_command", metavar="COMMAND", required=True)

    setup = es_commands.add_parser(
        "setup",
        help="install the ILM policy and the index template",
        epilog=example(
            "FLEETOBS_ELASTICSEARCH_API_KEY=... fleetobs elasticsearch setup --url https://es:9200"
        ),
    )
    setup.add_argument(
        "--url", type=http_url, required=True, help="Elasticsearch URL, e.g. http://localhost:9200"
    )
    setup.add_argument(
        "--api-key",
        default=os.environ.get("FLEETOBS_ELASTICSEARCH_API_KEY"),
        help="API key (default: $FLEETOBS_ELASTICSEARCH_API_KEY)",
    )
    retention_argument(setup)
    setup.add_argument("--timeout", type=_seconds, default=10.0, help="seconds per request (default: 10)")
    quiet_argument(setup)
    setup.set_defaults(func=_setup)

    write = es_commands.add_parser(
        "assets",
        help="write the template, policy and Kibana objects to files",
        epilog=example("fleetobs elasticsearch assets --out es/ --retention-days 14"),
    )
    write.add_argument("--out", type=output_dir, required=True, help="directory to write into")
    retention_argument(write)
    write.set_defaults(func=_write_assets)

    kibana = subparsers.add_parser(
        "kibana",
        help="load the Kibana saved objects",
        epilog=example("fleetobs kibana import --url http://localhost:5601"),
    )
    kibana_commands = kibana.add_subparsers(dest="kibana_command", metavar="COMMAND", required=True)
    load = kibana_commands.add_parser(
        "import",
        help="import the data view, searches and dashboard",
        epilog=example("KIBANA_API_KEY=... fleetobs kibana import --url http://localhost:5601 --space ops"),
    )
    load.add_argument("--url", type=http_url, required=True, help="Kibana URL, e.g. http://localhost:5601")
    load.add_argument(
        "--api-key", default=os.environ.get("KIBANA_API_KEY"), help="API key (default: $KIBANA_API_KEY)"
    )
    load.add_argument("--space", default=None, help="Kibana space id (default: the default space)")
    load.add_argument("--timeout", type=_seconds, default=10.0, help="seconds per request (default: 10)")
    quiet_argument(load)
    load.set_defaults(func=_kibana_import)


_seconds = number(minimum=0, exclusive_minimum=True)


def retention_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--retention-days",
        type=integer(minimum=1),
        default=assets.DEFAULT_RETENTION_DAYS,
        help=f"delete log indices this many days after rollover (default: {assets.DEFAULT_RETENTION_DAYS})",
    )


def _fail(message: str, code: int) -> int:
    print(f"fleetobs: {message}", file=sys.stderr)
    return code


_one_line = one_line


def _shown(url: str) -> str:
    """``url`` as messages print it: user-info (``user:password@``) masked."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc="[REDACTED]@" + parts.netloc.rpartition("@")[2]))


def elasticsearch_setup(
    url: str,
    api_key: str | None,
    *,
    retention_days: int = assets.DEFAULT_RETENTION_DAYS,
    timeout: float = 10.0,
    quiet: bool = False,
    stream: Writable | None = None,
) -> str:
    """PUT the ILM policy, then the index template; return the summary line.

    Raises :class:`~fleetobs_cli.Unreachable` or :class:`~fleetobs_cli.Refused` (exit 1), or
    :class:`~fleetobs_cli.UsageError` when the ``elasticsearch`` package is missing.
    """
    try:
        from elastic_transport import TransportError
        from elasticsearch import ApiError, Elasticsearch, UnsupportedProductError
    except ImportError:
        raise UsageError(
            "the elasticsearch package is needed: pip install 'django-fleet-observability[elasticsearch]'"
        ) from None
    progress = Progress(2, quiet=quiet, stream=stream)  # the policy, then the template
    shown = _shown(url)
    client = Elasticsearch(url, api_key=api_key, request_timeout=timeout, max_retries=0)
    step = f"PUT _ilm/policy/{assets.ILM_POLICY_NAME}"
    try:
        client.ilm.put_lifecycle(name=assets.ILM_POLICY_NAME, body=assets.ilm_policy(retention_days))
        progress.done(f"ILM policy {assets.ILM_POLICY_NAME} (delete after {retention_days} days)")
        step = f"PUT _index_template/{assets.TEMPLATE_NAME}"
        client.indices.put_index_template(
            name=assets.TEMPLATE_NAME, body=assets.index_template(retention_days)
        )
        progress.done(f"index template {assets.TEMPLATE_NAME}")
    except UnsupportedProductError:
        raise Refused(f"{shown} is not Elasticsearch (missing product header)") from None
    except ApiError as exc:
        reason = _error_reason(exc.body) or exc.message
        raise Refused(
            f"Elasticsearch at {shown} refused {step}: {exc.status_code} {_one_line(reason)}"
        ) from None
    except TransportError as exc:
        raise Unreachable("Elasticsearch", shown, exc.message) from None
    finally:
        client.close()
    return (
        f"installed ILM policy {assets.ILM_POLICY_NAME} (delete after {retention_days} days) "
        f"and index template {assets.TEMPLATE_NAME} for {assets.INDEX_PATTERN}"
    )


def _report(run: Callable[[], str]) -> int:
    """Run a command: its summary on standard output, or its error and exit code."""
    try:
        summary = run()
    except CommandError as exc:
        return _fail(str(exc), exc.exit_code)
    print(summary)
    return 0


def _setup(args: argparse.Namespace) -> int:
    return _report(
        lambda: elasticsearch_setup(
            args.url, args.api_key, retention_days=args.retention_days, timeout=args.timeout, quiet=args.quiet
        )
    )


def _error_reason(body: Any) -> str | None:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return f"{error.get('type', '')}: {error.get('reason', '')}".strip(": ")
        if error:
            return str(error)
    return None


def _write_assets(args: argparse.Namespace) -> int:
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "ilm-policy.json").write_text(
            json.dumps(assets.ilm_policy(args.retention_days), indent=2, sort_keys=True) + "\n"
        )
        (out / "index-template.json").write_text(
            json.dumps(assets.index_template(args.retention_days), indent=2, sort_keys=True) + "\n"
        )
        (out / "kibana-saved-objects.ndjson").write_text(assets.kibana_ndjson())
    except (OSError, ValueError) as exc:
        return _fail(
            f"cannot write assets to {out}: {_one_line(exc)}; check the path and its permissions", USAGE
        )
    print(f"wrote ilm-policy.json, index-template.json, kibana-saved-objects.ndjson to {out}")
    return 0


def _multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/ndjson\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def kibana_import(
    url: str,
    api_key: str | None,
    *,
    space: str | None = None,
    timeout: float = 10.0,
    quiet: bool = False,
    stream: Writable | None = None,
) -> str:
    """POST the saved objects to Kibana's import API; return the summary line.

    Raises :class:`~fleetobs_cli.Unreachable` or :class:`~fleetobs_cli.Refused` (exit 1).
    """
    progress = Progress(1, quiet=quiet, stream=stream)
    shown = _shown(url)
    base = url.rstrip("/")
    prefix = f"/s/{space}" if space else ""
    endpoint = f"{base}{prefix}/api/saved_objects/_import?overwrite=true"
    body, content_type = _multipart("fleetobs.ndjson", assets.kibana_ndjson().encode())
    headers = {"kbn-xsrf": "fleetobs", "Content-Type": content_type}
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked
            result = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise Refused(f"Kibana at {shown} refused the import: {exc.code} {_one_line(detail)}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise Unreachable("Kibana", shown, getattr(exc, "reason", exc)) from None
    except ValueError as exc:
        raise Refused(f"Kibana at {shown} answered something that is not JSON: {_one_line(exc)}") from None
    if not result.get("success", False):
        errors = result.get("errors") or []
        first = errors[0] if errors else {}
        raise Refused(f"Kibana at {shown} rejected {len(errors)} object(s), first: {_one_line(first)}")
    count = result.get("successCount", 0)
    progress.done(f"saved objects ({count}) into {f'space {space}' if space else 'the default space'}")
    return f"imported {count} saved objects into Kibana at {shown}"


def _kibana_import(args: argparse.Namespace) -> int:
    return _report(
        lambda: kibana_import(
            args.url, args.api_key, space=args.space, timeout=args.timeout, quiet=args.quiet
        )
    )
