"""The Grafana backup against a small local HTTP server that answers like Grafana's API.

Grafana cannot run here; the server implements the two endpoints the backup uses
(``/api/search`` with paging, ``/api/dashboards/uid/<uid>``) with Grafana's status codes and
error bodies, checks the credentials it receives, and records every request.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import tools.grafana.backup as backup
from tests.grafana.helpers import committed
from tools._repo import REPO
from tools.demo.net import free_port

#: The committed dashboards, which the fake Grafana serves in the NARRA_FORGE folder (plus Home).
NARRA_FORGE_BOARDS = len(committed())

TOKEN = "glsa_test_token_do_not_print"


@dataclass
class FakeGrafana:
    """What the server holds and how it answers."""

    dashboards: dict[str, dict[str, Any]]
    folders: dict[str, str]
    auth: str = f"Bearer {TOKEN}"
    forbidden: bool = False
    vanished: set[str] = field(default_factory=set)
    html: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    url: str = ""


def make_handler(state: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            state.requests.append((self.path, self.headers.get("Authorization")))
            if state.html:
                page = b"<html>not grafana</html>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            if self.headers.get("Authorization") != state.auth:
                self.answer(401, {"message": "invalid API key"})
                return
            if state.forbidden:
                self.answer(403, {"message": "Access denied"})
                return
            url = urllib.parse.urlparse(self.path)
            if url.path == "/api/search":
                self.search(urllib.parse.parse_qs(url.query))
            elif url.path.startswith("/api/dashboards/uid/"):
                uid = urllib.parse.unquote(url.path.removeprefix("/api/dashboards/uid/"))
                if uid not in state.dashboards or uid in state.vanished:
                    self.answer(404, {"message": "Dashboard not found"})
                    return
                self.answer(
                    200,
                    {
                        "dashboard": state.dashboards[uid],
                        "meta": {"folderTitle": state.folders[uid], "slug": uid},
                    },
                )
            else:
                self.answer(404, {"message": "Not found"})

        def search(self, query: dict[str, list[str]]) -> None:
            items: list[dict[str, Any]] = [
                {"uid": uid, "title": board["title"], "type": "dash-db"}
                for uid, board in sorted(state.dashboards.items())
            ]
            if query.get("type") != ["dash-db"]:
                items.append({"uid": "narra-forge", "title": "NARRA_FORGE", "type": "dash-folder"})
            limit = int(query.get("limit", ["1000"])[0])
            page = int(query.get("page", ["1"])[0])
            self.answer(200, items[(page - 1) * limit : page * limit])

    return Handler


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    boards = {b["uid"]: {**b, "id": index} for index, b in enumerate(committed().values(), 1)}
    boards["home"] = {"id": 99, "uid": "home", "title": "Home", "panels": []}
    state = FakeGrafana(
        dashboards=boards, folders={uid: "NARRA_FORGE" for uid in boards} | {"home": "General"}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    # A short poll interval: shutdown() waits up to one poll for the serving loop to notice.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def run(grafana: FakeGrafana, out: Path, *args: str, **env: str) -> int:
    return backup.main(["--url", grafana.url, "--out", str(out), *args], environ=env)


def test_exports_every_dashboard_with_a_token(grafana, tmp_path, capsys):
    assert run(grafana, tmp_path, GRAFANA_TOKEN=TOKEN) == backup.EXIT_OK
    for uid, served in grafana.dashboards.items():
        folder = "General" if uid == "home" else "NARRA_FORGE"
        written = json.loads((tmp_path / folder / f"{uid}.json").read_text())
        assert written == {**served, "id": None}, uid  # importable anywhere
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(d["uid"] for d in manifest["dashboards"]) == sorted(grafana.dashboards)
    assert manifest["failures"] == []
    assert all(auth == f"Bearer {TOKEN}" for _, auth in grafana.requests)
    assert grafana.requests[0][0].startswith("/api/search?type=dash-db")
    output = capsys.readouterr()
    assert f"exported {len(grafana.dashboards)} dashboards from {grafana.url}" in output.out
    assert TOKEN not in output.out + output.err


def test_basic_auth_from_the_environment_and_from_a_password_file(grafana, tmp_path):
    grafana.auth = "Basic " + base64.b64encode(b"backup:s3cret").decode()
    env = {"GRAFANA_USER": "backup", "GRAFANA_PASSWORD": "s3cret"}
    assert run(grafana, tmp_path / "env", **env) == backup.EXIT_OK
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    assert (
        run(grafana, tmp_path / "file", "--user", "backup", "--password-file", str(password))
        == backup.EXIT_OK
    )
    assert len(list((tmp_path / "file" / "NARRA_FORGE").glob("*.json"))) == NARRA_FORGE_BOARDS


def test_all_pages_of_the_search_are_read(grafana, tmp_path, monkeypatch):
    monkeypatch.setattr(backup, "PAGE_SIZE", 2)
    assert run(grafana, tmp_path, GRAFANA_TOKEN=TOKEN) == backup.EXIT_OK
    pages = [path for path, _ in grafana.requests if path.startswith("/api/search")]
    # 2 per page: the first page with fewer than 2 (possibly none) ends the search.
    assert len(pages) == len(grafana.dashboards) // 2 + 1
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert len(manifest["dashboards"]) == len(grafana.dashboards)


def test_a_refused_token_is_a_clear_error(grafana, tmp_path, capsys):
    assert run(grafana, tmp_path, GRAFANA_TOKEN="wrong") == backup.EXIT_AUTH
    err = capsys.readouterr().err
    assert f"Grafana at {grafana.url} refused the token (401 Unauthorized: invalid API key)" in err
    assert "GRAFANA_TOKEN" in err
    assert "wrong" not in err


def test_wrong_password_names_the_user(grafana, tmp_path, capsys):
    env = {"GRAFANA_USER": "admin", "GRAFANA_PASSWORD": "admin"}
    assert run(grafana, tmp_path, **env) == backup.EXIT_AUTH
    assert 'refused user "admin" and its password (401 Unauthorized' in capsys.readouterr().err


def test_credentials_without_permission_are_a_clear_error(grafana, tmp_path, capsys):
    grafana.forbidden = True
    assert run(grafana, tmp_path, GRAFANA_TOKEN=TOKEN) == backup.EXIT_AUTH
    err = capsys.readouterr().err
    assert "accepted the token but does not let it read /api/search" in err
    assert "403 Forbidden: Access denied" in err


def test_an_unreachable_grafana_is_a_clear_error(tmp_path, capsys):
    port = free_port()  # nothing listens on it
    code = backup.main(
        ["--url", f"http://127.0.0.1:{port}", "--out", str(tmp_path), "--timeout", "5"],
        environ={"GRAFANA_TOKEN": TOKEN},
    )
    assert code == backup.EXIT_UNREACHABLE
    assert f"cannot reach Grafana at http://127.0.0.1:{port}" in capsys.readouterr().err


def test_something_that_is_not_grafana_is_named(grafana, tmp_path, capsys):
    grafana.html = True
    assert run(grafana, tmp_path, GRAFANA_TOKEN=TOKEN) == backup.EXIT_UNREACHABLE
    assert "did not answer JSON; is" in capsys.readouterr().err


def test_a_dashboard_deleted_during_the_export_fails_alone(grafana, tmp_path, capsys):
    grafana.vanished = {"narra-forge-api-metrics"}
    assert run(grafana, tmp_path, GRAFANA_TOKEN=TOKEN) == backup.EXIT_PARTIAL
    err = capsys.readouterr().err
    assert 'dashboard "narra-forge-api-metrics" (NARRA_FORGE API Metrics)' in err
    assert "404 Not Found" in err
    assert "Dashboard not found" in err
    assert len(list((tmp_path / "NARRA_FORGE").glob("*.json"))) == NARRA_FORGE_BOARDS - 1
    assert json.loads((tmp_path / "manifest.json").read_text())["failures"]


def test_uids_and_folders_cannot_escape_the_output_folder(grafana, tmp_path):
    grafana.dashboards["../../etc/x"] = {"uid": "../../etc/x", "title": "Odd", "panels": []}
    grafana.folders["../../etc/x"] = "../Team / Ops"
    assert run(grafana, tmp_path / "out", GRAFANA_TOKEN=TOKEN) == backup.EXIT_OK
    assert (tmp_path / "out" / "Team_Ops" / "etc_x.json").is_file()
    assert not (tmp_path / "etc").exists()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--url", "localhost:3000"], {}, "not a Grafana URL: 'localhost:3000'"),
        (["--user", "admin"], {"GRAFANA_TOKEN": TOKEN}, "a token or a user and password"),
        ([], {"GRAFANA_PASSWORD": "x"}, "a password was given without a user"),
        (["--token-file", "/nonexistent/token"], {}, "cannot read the token file"),
    ],
)
def test_bad_usage_is_refused_before_any_request(args, env, message, tmp_path, capsys):
    assert backup.main([*args, "--out", str(tmp_path)], environ=env) == backup.EXIT_USAGE
    assert message in capsys.readouterr().err


def test_the_command_line(grafana, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.grafana.backup",
            "--url",
            grafana.url,
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"GRAFANA_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"exported {NARRA_FORGE_BOARDS + 1} dashboards" in result.stdout
