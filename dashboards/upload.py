"""Push the dashboards to a running Grafana through its HTTP API.

The sequence is the one Grafana documents: find the folder by title (``GET /api/folders``) or
create it (``POST /api/folders``), then save each dashboard with ``POST /api/dashboards/db``
(``overwrite: true``, so re-running updates in place; uids are fixed). Authentication is a
service-account token sent as ``Authorization: Bearer``. Each finished step (the folder, each
dashboard) is reported to a :class:`~fleetobs_cli.progress.Progress`: a line on stderr under
``fleetobs dashboards upload``. Failures become :class:`UploadError` with a message that says
what to do: a rejected token (401), a token without the right role (403), a Grafana that cannot
be reached, or any other HTTP error with Grafana's own message. Only the standard library is
used, so uploading needs nothing beyond grafanalib.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dashboards import uids
from fleetobs_cli.progress import Progress

DEFAULT_TIMEOUT = 10.0


class UploadError(Exception):
    """Uploading failed; the message is meant for the person running the command."""


@dataclass(frozen=True)
class GrafanaClient:
    """A tiny Grafana HTTP API client: just what uploading dashboards needs."""

    url: str
    token: str
    timeout: float = DEFAULT_TIMEOUT

    def request(self, method: str, path: str, body: Any = None) -> Any:
        base = self.url.rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise UploadError(f"Grafana URL must start with http:// or https://, got {self.url!r}")
        data = None if body is None else json.dumps(body, sort_keys=True).encode()
        req = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            f"{base}{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:  # noqa: S310 - checked above
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise _http_error(exc, method, path) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UploadError(f"cannot connect to Grafana at {base}: {reason}") from None
        return json.loads(payload) if payload else None


def _http_error(exc: urllib.error.HTTPError, method: str, path: str) -> UploadError:
    try:
        detail = json.loads(exc.read() or b"{}").get("message", "")
    except (ValueError, AttributeError):
        detail = ""
    suffix = f" ({detail})" if detail else ""
    if exc.code == 401:
        return UploadError(f"Grafana rejected the token (401 Unauthorized){suffix}: check --token")
    if exc.code == 403:
        return UploadError(
            f"the token may not {method} {path} (403 Forbidden){suffix}: "
            "use a service account with the Editor or Admin role"
        )
    return UploadError(f"Grafana answered {exc.code} to {method} {path}{suffix}")


def ensure_folder(client: GrafanaClient, title: str) -> str:
    """The uid of the folder titled ``title``, created if missing."""
    folders = client.request("GET", "/api/folders?limit=1000") or []
    for folder in folders:
        if folder.get("title") == title:
            return str(folder["uid"])
    uid = uids.FOLDER_UID if title == uids.FOLDER_TITLE else None
    created = client.request("POST", "/api/folders", {"title": title, **({"uid": uid} if uid else {})})
    return str(created["uid"])


def upload(
    client: GrafanaClient,
    dashboards: Mapping[str, Mapping[str, Any]],
    folder: str = uids.FOLDER_TITLE,
    *,
    quiet: bool = True,
) -> list[str]:
    """Save every dashboard into ``folder``; returns the URLs Grafana reports.

    Unless ``quiet``, each step is a progress line on stderr as it finishes: the folder, then
    each dashboard saved.
    """
    progress = Progress(1 + len(dashboards), quiet=quiet)
    folder_uid = ensure_folder(client, folder)
    progress.done(f"folder {folder}")
    urls = []
    for _name, dashboard in sorted(dashboards.items()):
        result = client.request(
            "POST",
            "/api/dashboards/db",
            {
                "dashboard": {**dashboard, "id": None},
                "folderUid": folder_uid,
                "overwrite": True,
                "message": "fleetobs dashboards upload",
            },
        )
        urls.append(str((result or {}).get("url", uids.dashboard_path(str(dashboard["uid"])))))
        progress.done(f"dashboard {dashboard['uid']} ({dashboard.get('title', '')})")
    return urls
