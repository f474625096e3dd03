"""Export every dashboard of a running Grafana into JSON files, through its HTTP API.

    python -m tools.grafana.backup --url http://localhost:3000 --out backups/grafana
    GRAFANA_TOKEN=glsa_... python -m tools.grafana.backup            # service-account token
    GRAFANA_USER=admin GRAFANA_PASSWORD=... python -m tools.grafana.backup

What the monitoring guide did with curl and jq for one dashboard, for all of them: it lists the
dashboards (``GET /api/search?type=dash-db``, page by page) and writes the ``dashboard`` part of
``GET /api/dashboards/uid/<uid>`` to ``<out>/<folder>/<uid>.json`` with ``id`` set to null, so a
file imports into any Grafana (UI "Import", or ``POST /api/dashboards/db``). ``manifest.json``
lists what was exported. Credentials come from flags, files or the environment, never from a
default: a token is sent as ``Authorization: Bearer``, a user and password as basic auth.

Exit status: 0 all exported; 1 some dashboards failed; 2 Grafana unreachable or not answering
like Grafana; 3 credentials refused (401) or lacking permission (403); 64 bad usage.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_UNREACHABLE = 2
EXIT_AUTH = 3
EXIT_USAGE = 64

#: Results per search page. Grafana caps a page at 5000; small pages keep each answer small.
PAGE_SIZE = 1000


class BackupError(Exception):
    """A failure; ``exit_code`` says which kind. A ``fatal`` one stops the whole export (no
    connection, refused credentials); another only loses the dashboard it happened on."""

    def __init__(self, message: str, exit_code: int, *, fatal: bool = True) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.fatal = fatal


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    user: str | None = None
    password: str | None = None

    def header(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.user is not None:
            pair = f"{self.user}:{self.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}

    def describe(self) -> str:
        if self.token:
            return "the token"
        if self.user is not None:
            return f'user "{self.user}" and its password'
        return "no credentials (anonymous access)"


class Grafana:
    """The two read-only endpoints of Grafana's HTTP API this backup needs."""

    def __init__(self, url: str, credentials: Credentials, timeout: float = 10.0) -> None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise BackupError(
                f"not a Grafana URL: {url!r}; expected http(s)://host:port", EXIT_USAGE
            )
        self.url = url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout

    def get(self, path: str) -> Any:
        request = urllib.request.Request(
            self.url + path, headers={"Accept": "application/json", **self.credentials.header()}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            raise self._http_error(error, path) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise BackupError(
                f"cannot reach Grafana at {self.url}: {reason}. Is it running, and is the URL "
                "right (--url or GRAFANA_URL)?",
                EXIT_UNREACHABLE,
            ) from None
        try:
            return json.loads(body)
        except ValueError:
            raise BackupError(
                f"{self.url}{path} did not answer JSON; is {self.url} a Grafana?",
                EXIT_UNREACHABLE,
                fatal=False,
            ) from None

    def _http_error(self, error: urllib.error.HTTPError, path: str) -> BackupError:
        detail = _message_of(error)
        if error.code == 401:
            return BackupError(
                f"Grafana at {self.url} refused {self.credentials.describe()} (401 Unauthorized"
                f"{': ' + detail if detail else ''}). Check the token (GRAFANA_TOKEN) or the user "
                "and password (GRAFANA_USER, GRAFANA_PASSWORD).",
                EXIT_AUTH,
            )
        if error.code == 403:
            return BackupError(
                f"Grafana at {self.url} accepted {self.credentials.describe()} but does not let it "
                f"read {path} (403 Forbidden{': ' + detail if detail else ''}). A Viewer role with "
                "access to every folder is enough.",
                EXIT_AUTH,
            )
        return BackupError(
            f"Grafana at {self.url} answered {error.code} {error.reason} for {path}"
            f"{': ' + detail if detail else ''}",
            EXIT_UNREACHABLE,
            fatal=False,
        )

    def search_dashboards(self) -> list[Mapping[str, Any]]:
        found: list[Mapping[str, Any]] = []
        page = 1
        while True:
            query = urllib.parse.urlencode({"type": "dash-db", "limit": PAGE_SIZE, "page": page})
            batch = self.get(f"/api/search?{query}")
            if not isinstance(batch, list):
                raise BackupError(
                    f"{self.url}/api/search did not answer a list; is {self.url} a Grafana?",
                    EXIT_UNREACHABLE,
                )
            found.extend(item for item in batch if item.get("type", "dash-db") == "dash-db")
            if len(batch) < PAGE_SIZE:
                return found
            page += 1

    def dashboard(self, uid: str) -> Mapping[str, Any]:
        answer = self.get(f"/api/dashboards/uid/{urllib.parse.quote(uid, safe='')}")
        if not isinstance(answer, dict) or not isinstance(answer.get("dashboard"), dict):
            raise BackupError('the answer has no "dashboard" object', EXIT_PARTIAL, fatal=False)
        return answer


def _message_of(error: urllib.error.HTTPError) -> str:
    """Grafana's own error text (``{"message": ...}``), if it sent one."""
    try:
        body = json.loads(error.read() or b"{}")
    except (ValueError, OSError):
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""


def safe_name(text: str) -> str:
    """A file or folder name from a uid or folder title: no separators, no leading dots."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return cleaned or "_"


def export(grafana: Grafana, out: Path, log: Any = print) -> tuple[list[dict[str, Any]], list[str]]:
    """Write every dashboard under ``out``; returns the manifest entries and the failures."""
    exported: list[dict[str, Any]] = []
    failures: list[str] = []
    for item in grafana.search_dashboards():
        uid = str(item.get("uid") or "")
        if not uid:
            failures.append(f"search result without a uid: {item.get('title')!r}")
            continue
        try:
            answer = grafana.dashboard(uid)
        except BackupError as error:
            if error.fatal:
                raise
            failures.append(f'dashboard "{uid}" ({item.get("title")}): {error}')
            continue
        meta = answer.get("meta") or {}
        folder = str(meta.get("folderTitle") or item.get("folderTitle") or "General")
        board = dict(answer["dashboard"])
        # An id belongs to one Grafana's database; null lets the file be imported elsewhere.
        board["id"] = None
        path = out / safe_name(folder) / f"{safe_name(uid)}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        exported.append(
            {
                "file": str(path.relative_to(out)),
                "folder": folder,
                "title": board.get("title"),
                "uid": uid,
                "version": board.get("version"),
            }
        )
        log(f"exported {uid} ({board.get('title')}) -> {path}")
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"grafana": grafana.url, "dashboards": exported, "failures": failures}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return exported, failures


def _read_secret(path: str | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text().strip()
    except OSError as error:
        message = f"cannot read the {what} file {path}: {error.strerror}"
        raise BackupError(message, EXIT_USAGE) from None


def credentials_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Credentials:
    token = _read_secret(args.token_file, "token") or environ.get("GRAFANA_TOKEN") or None
    user = args.user or environ.get("GRAFANA_USER") or None
    password = (
        _read_secret(args.password_file, "password") or environ.get("GRAFANA_PASSWORD") or None
    )
    if token and (args.user or args.password_file):
        raise BackupError("give a token or a user and password, not both", EXIT_USAGE)
    if token:
        return Credentials(token=token)
    if password and not user:
        raise BackupError(
            "a password was given without a user (--user or GRAFANA_USER)", EXIT_USAGE
        )
    return Credentials(user=user, password=password) if user else Credentials()


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m tools.grafana.backup",
        description=__doc__.splitlines()[0],
        epilog="Environment: GRAFANA_URL, GRAFANA_TOKEN, GRAFANA_USER, GRAFANA_PASSWORD.",
    )
    parser.add_argument(
        "--url",
        default=environ.get("GRAFANA_URL", "http://localhost:3000"),
        help="Grafana base URL (default: $GRAFANA_URL or http://localhost:3000)",
    )
    parser.add_argument("--out", type=Path, default=Path("backups/grafana"), help="folder to write")
    parser.add_argument("--token-file", help="file holding a service-account token")
    parser.add_argument("--user", help="user for basic auth (password from --password-file or env)")
    parser.add_argument("--password-file", help="file holding the basic-auth password")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    args = parser.parse_args(argv)
    try:
        grafana = Grafana(args.url, credentials_from(args, environ), args.timeout)
        exported, failures = export(grafana, args.out)
    except BackupError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    print(f"exported {len(exported)} dashboards from {grafana.url} to {args.out}")
    return EXIT_PARTIAL if failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
