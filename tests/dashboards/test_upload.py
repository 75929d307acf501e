"""``fleetobs dashboards upload`` against a small fake Grafana HTTP API on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import fleetobs
from dashboards import generate, uids
from dashboards.upload import GrafanaClient, UploadError, upload
from tests.support.procs import free_port

GOOD, VIEWER = "good-token", "viewer-token"


class FakeGrafana(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.folders: list[dict[str, str]] = []
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeGrafana

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _reply(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _authorised(self, write: bool) -> bool:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in (GOOD, VIEWER):
            self._reply(401, {"message": "invalid API key"})
            return False
        if write and token == VIEWER:
            self._reply(403, {"message": "Access denied"})
            return False
        return True

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path))
        if not self._authorised(write=False):
            return
        if self.path.startswith("/api/folders"):
            self._reply(200, self.server.folders)
        else:
            self._reply(404, {"message": "not found"})

    def do_POST(self) -> None:
        self.server.requests.append(("POST", self.path))
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self._authorised(write=True):
            return
        if self.path == "/api/folders":
            folder = {"uid": body.get("uid") or "generated-uid", "title": body["title"]}
            self.server.folders.append(folder)
            self._reply(200, folder)
        elif self.path == "/api/dashboards/db":
            assert body["overwrite"] is True
            dashboard = body["dashboard"]
            self.server.dashboards[dashboard["uid"]] = {**body}
            self._reply(
                200, {"status": "success", "uid": dashboard["uid"], "url": f"/d/{dashboard['uid']}/x"}
            )
        else:
            self._reply(404, {"message": "not found"})


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    server = FakeGrafana()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_upload_creates_the_folder_and_saves_every_dashboard(grafana: FakeGrafana) -> None:
    dashboards = generate.dashboards()
    urls = upload(GrafanaClient(grafana.url, GOOD), dashboards)
    assert grafana.folders == [{"uid": uids.FOLDER_UID, "title": uids.FOLDER_TITLE}]
    assert set(grafana.dashboards) == {d["uid"] for d in dashboards.values()}
    for saved in grafana.dashboards.values():
        assert saved["folderUid"] == uids.FOLDER_UID
        assert saved["dashboard"]["editable"] is False
    assert sorted(urls) == sorted(f"/d/{uid}/x" for uid in grafana.dashboards)


def test_upload_reuses_an_existing_folder(grafana: FakeGrafana) -> None:
    grafana.folders.append({"uid": "ops", "title": "Operations"})
    upload(GrafanaClient(grafana.url, GOOD), generate.dashboards(), folder="Operations")
    assert grafana.folders == [{"uid": "ops", "title": "Operations"}]
    assert {d["folderUid"] for d in grafana.dashboards.values()} == {"ops"}
    assert ("POST", "/api/folders") not in grafana.requests


def test_cli_upload_prints_dashboard_urls(grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]) -> None:
    code = fleetobs.main(["dashboards", "upload", "--url", grafana.url, "--token", GOOD, "--folder", "Fleet"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert len(out) == len(generate.MODULES)
    assert all(line.startswith(f"{grafana.url}/d/") for line in out)


@pytest.mark.parametrize(
    ("token", "expected"),
    [("wrong", "rejected the token (401 Unauthorized) (invalid API key)"), (VIEWER, "403 Forbidden")],
)
def test_auth_failures_say_what_to_do(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str], token: str, expected: str
) -> None:
    code = fleetobs.main(["dashboards", "upload", "--url", grafana.url, "--token", token])
    err = capsys.readouterr().err
    assert code == 1
    assert expected in err
    assert not grafana.dashboards


def test_connection_failure_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nothing listens there
    code = fleetobs.main(["dashboards", "upload", "--url", f"http://127.0.0.1:{port}", "--token", GOOD])
    assert code == 1
    assert f"cannot connect to Grafana at http://127.0.0.1:{port}" in capsys.readouterr().err


def test_missing_token_and_bad_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    assert fleetobs.main(["dashboards", "upload", "--url", "http://127.0.0.1:1"]) == 2
    assert "token is required" in capsys.readouterr().err
    with pytest.raises(UploadError, match="must start with http"):
        GrafanaClient("file:///etc/passwd", GOOD).request("GET", "/api/folders")
