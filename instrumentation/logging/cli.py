"""``fleetobs elasticsearch ...`` and ``fleetobs kibana ...``: install the log assets.

``elasticsearch setup --url URL [--api-key KEY] [--retention-days N]``
    PUT the ILM policy, then the index template (both replace what is there: idempotent).
``elasticsearch assets --out DIR [--retention-days N]``
    write ``ilm-policy.json``, ``index-template.json`` and ``kibana-saved-objects.ndjson``.
``kibana import --url URL [--api-key KEY]``
    POST the saved objects to Kibana's import API with ``overwrite=true`` (idempotent).

Failures print one line on stderr: exit 2 for a bad argument, 1 when the server cannot be reached
(the line names its URL) or answers with an error (authentication, permissions, a bad request),
as every ``fleetobs`` command does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from fleetobs_cli import EXIT_BACKEND, EXIT_USAGE, example, http_url, integer, number, one_line, output_dir
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
    _retention_argument(setup)
    setup.add_argument("--timeout", type=_seconds, default=10.0, help="seconds per request (default: 10)")
    setup.set_defaults(func=_setup)

    write = es_commands.add_parser(
        "assets",
        help="write the template, policy and Kibana objects to files",
        epilog=example("fleetobs elasticsearch assets --out es/ --retention-days 14"),
    )
    write.add_argument("--out", type=output_dir, required=True, help="directory to write into")
    _retention_argument(write)
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
    load.set_defaults(func=_kibana_import)


_seconds = number(minimum=0, exclusive_minimum=True)


def _retention_argument(parser: argparse.ArgumentParser) -> None:
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


def _setup(args: argparse.Namespace) -> int:
    try:
        from elastic_transport import TransportError
        from elasticsearch import ApiError, Elasticsearch, UnsupportedProductError
    except ImportError:
        return _fail(
            "the elasticsearch package is needed: pip install 'django-fleet-observability[elasticsearch]'",
            USAGE,
        )
    client = Elasticsearch(args.url, api_key=args.api_key, request_timeout=args.timeout, max_retries=0)
    step = f"PUT _ilm/policy/{assets.ILM_POLICY_NAME}"
    try:
        client.ilm.put_lifecycle(name=assets.ILM_POLICY_NAME, body=assets.ilm_policy(args.retention_days))
        step = f"PUT _index_template/{assets.TEMPLATE_NAME}"
        client.indices.put_index_template(
            name=assets.TEMPLATE_NAME, body=assets.index_template(args.retention_days)
        )
    except UnsupportedProductError:
        return _fail(f"{args.url} is not Elasticsearch (missing product header)", REFUSED)
    except ApiError as exc:
        reason = _error_reason(exc.body) or exc.message
        return _fail(
            f"Elasticsearch at {args.url} refused {step}: {exc.status_code} {_one_line(reason)}", REFUSED
        )
    except TransportError as exc:
        return _fail(f"cannot reach Elasticsearch at {args.url}: {_one_line(exc.message)}", UNREACHABLE)
    finally:
        client.close()
    print(
        f"installed ILM policy {assets.ILM_POLICY_NAME} (delete after {args.retention_days} days) "
        f"and index template {assets.TEMPLATE_NAME} for {assets.INDEX_PATTERN}"
    )
    return 0


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


def _kibana_import(args: argparse.Namespace) -> int:
    base = args.url.rstrip("/")
    space = f"/s/{args.space}" if args.space else ""
    url = f"{base}{space}/api/saved_objects/_import?overwrite=true"
    body, content_type = _multipart("fleetobs.ndjson", assets.kibana_ndjson().encode())
    headers = {"kbn-xsrf": "fleetobs", "Content-Type": content_type}
    if args.api_key:
        headers["Authorization"] = f"ApiKey {args.api_key}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:  # noqa: S310 - scheme checked
            result = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        return _fail(f"Kibana at {args.url} refused the import: {exc.code} {_one_line(detail)}", REFUSED)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return _fail(f"cannot reach Kibana at {args.url}: {_one_line(reason)}", UNREACHABLE)
    except ValueError as exc:
        return _fail(f"Kibana at {args.url} answered something that is not JSON: {_one_line(exc)}", REFUSED)
    if not result.get("success", False):
        errors = result.get("errors") or []
        first = errors[0] if errors else {}
        return _fail(
            f"Kibana at {args.url} rejected {len(errors)} object(s), first: {_one_line(first)}", REFUSED
        )
    print(f"imported {result.get('successCount', 0)} saved objects into Kibana at {args.url}")
    return 0
