"""``SalesforceAuth`` sends the token only where it was asked to: redirects and plain http.

A real loopback API server redirects to another origin (127.0.0.1 to localhost, or to another
port) whose answer is 401 ``INVALID_SESSION_ID``: requests drops the header on such a redirect,
and the auth's 401 hook must not put it back. The server records every request's Host and
Authorization headers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import CLIENT_ID, USERNAME
from recording_proxy import RecordingProxy

from sf_credproc import ConfigError, SalesforceAuth
from sf_credproc.emulator import SalesforceEmulator

INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


@dataclass(frozen=True)
class Seen:
    host: str
    path: str
    authorization: str | None


class ApiServer:
    """Plain http on 127.0.0.1; ``/to/<origin>/<path>`` redirects to ``http://<origin>/<path>``.

    ``/live`` answers 200 to a live session of ``org`` and 401 ``INVALID_SESSION_ID`` to anything
    else; ``/deep`` answers 401 with JSON nested too deeply to parse; every other path answers 401
    ``INVALID_SESSION_ID``.
    """

    def __init__(self, org: SalesforceEmulator) -> None:
        self.org = org
        self.seen: list[Seen] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.api = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def carried_token(self, host: str) -> list[str | None]:
        return [s.authorization for s in self.seen if s.host == host]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        api: ApiServer = self.server.api  # type: ignore[attr-defined]
        authorization = self.headers.get("Authorization")
        api.seen.append(Seen(self.headers.get("Host", ""), self.path, authorization))
        if self.path.startswith("/to/"):
            origin, _, rest = self.path.removeprefix("/to/").partition("/")
            self.send_response(302)
            self.send_header("Location", f"http://{origin}/{rest}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        token = (authorization or "").removeprefix("Bearer ")
        live = self.path == "/live" and api.org.session_for(token) is not None
        body = json.dumps({"ok": True} if live else INVALID_SESSION).encode()
        if self.path == "/deep":  # a 401 nested past the interpreter's recursion limit
            body = b"[" * 100_000 + b"]" * 100_000
        self.send_response(200 if live else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api(org: SalesforceEmulator) -> Iterator[ApiServer]:
    server = ApiServer(org)
    yield server
    server.stop()


@pytest.fixture
def other_api(org: SalesforceEmulator) -> Iterator[ApiServer]:
    server = ApiServer(org)
    yield server
    server.stop()


@pytest.fixture
def auth(org: SalesforceEmulator, key_file: Path, env: dict[str, str]) -> SalesforceAuth:
    return SalesforceAuth(
        client_id=CLIENT_ID,
        username=USERNAME,
        login_url=org.url,
        key=f"file:{key_file}",
        environ=env,
    )


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # this process's proxy variables play no part
        yield session


def test_no_token_for_another_host_after_a_redirect(
    api: ApiServer, auth: SalesforceAuth, http: requests.Session, org: SalesforceEmulator
) -> None:
    start = f"http://127.0.0.1:{api.port}/to/localhost:{api.port}/services/data/v62.0/"
    answer = http.get(start, auth=auth, timeout=10)
    assert answer.status_code == 401  # the other host's answer, handed back as it is
    assert api.carried_token(f"127.0.0.1:{api.port}") == [f"Bearer {auth.credential.access_token}"]
    assert api.carried_token(f"localhost:{api.port}") == [None]
    assert auth.refreshes == 0 and org.token_request_count == 1


def test_no_token_for_another_port_after_a_redirect(
    api: ApiServer, other_api: ApiServer, auth: SalesforceAuth, http: requests.Session
) -> None:
    start = f"http://127.0.0.1:{api.port}/to/127.0.0.1:{other_api.port}/services/data/v62.0/"
    assert http.get(start, auth=auth, timeout=10).status_code == 401
    assert [s.authorization for s in other_api.seen] == [None]
    assert auth.refreshes == 0


def test_a_same_origin_redirect_still_replays_once(
    api: ApiServer, auth: SalesforceAuth, http: requests.Session, org: SalesforceEmulator
) -> None:
    """The control: where the token was sent, a 401 still gets a new session and one replay."""
    stale = auth.credential.access_token
    org.revoke(stale)
    origin = f"127.0.0.1:{api.port}"
    answer = http.get(f"http://{origin}/to/{origin}/live", auth=auth, timeout=10)
    assert answer.status_code == 200
    fresh = auth.credential.access_token
    assert fresh != stale and auth.refreshes == 1
    assert api.carried_token(origin) == [f"Bearer {stale}"] * 2 + [f"Bearer {fresh}"]


@pytest.mark.parametrize(
    "url",
    [
        "http://acme.my.salesforce.com/services/data/v62.0/",
        "http://10.0.0.1/services/data/v62.0/",
        "http://localhost.attacker.example/services/data/v62.0/",
    ],
)
def test_no_token_over_plain_http_to_a_remote_host(
    url: str, auth: SalesforceAuth, http: requests.Session, org: SalesforceEmulator
) -> None:
    tripwire = RecordingProxy().start()
    try:
        with pytest.raises(ConfigError, match="over http"):
            http.get(url, auth=auth, proxies={"http": tripwire.url}, timeout=10)
    finally:
        tripwire.stop()
    assert tripwire.connections == 0
    assert org.token_request_count == 0  # refused before a token was even fetched


def test_a_deeply_nested_401_is_handed_back_not_raised(
    api: ApiServer, auth: SalesforceAuth, http: requests.Session, org: SalesforceEmulator
) -> None:
    """The 401 hook parses the body to look for INVALID_SESSION_ID: JSON nested too deeply to
    parse (RecursionError) is not Salesforce's answer, so it is returned, not raised, and the
    session is not replaced."""
    answer = http.get(f"http://127.0.0.1:{api.port}/deep", auth=auth, timeout=10)
    assert answer.status_code == 401
    assert auth.refreshes == 0 and org.token_request_count == 1
