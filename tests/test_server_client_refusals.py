"""Clients of the endpoint against what is not a good endpoint: URLs refused before any
connection, missing tokens, other identities, and hostile answers from a tiny local server.

The server here (``CannedEndpoint``) is no ``sf-credproc serve``: it reads a request head and
answers with the bytes a test chose, counting connections, so a test shows that a refused URL
never reached it and what the client sent when one did. Every run is ``get`` in this process with
only the endpoint's variables set (no key, no client id, no config file).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faulty_emulator import FaultyEmulator
from helpers import (
    SECRETS,
    USERNAME,
    Run,
    base_env,
    credential_document,
    get_args,
    run_cli,
    run_process,
)
from serve_fixtures import new_server_token
from trickling_server import trickling_server

from sf_credproc import SalesforceAuth, get_credential
from sf_credproc.config.serve_options import (
    SERVER_SOCKET_ENV,
    SERVER_TOKEN_ENV,
    SERVER_TOKEN_FILE_ENV,
    SERVER_URL_ENV,
)
from sf_credproc.errors import ConfigError, TransientError
from sf_credproc.formats import render
from sf_credproc.server_answer import parse_credential

#: The token the canned endpoint serves: never on stderr.
SERVED_TOKEN = "00Dcanned0000001!AQ" + "c" * 40


def credential_body(**changes: Any) -> bytes:
    now = int(time.time())
    document = credential_document(SERVED_TOKEN, USERNAME, now, now + 7200)
    document.update(changes)
    return json.dumps(document).encode()


def http_answer(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status} Whatever\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def error_answer(status: int, code: Any, kind: str, message: str) -> bytes:
    body = json.dumps({"code": code, "kind": kind, "message": message}).encode()
    return http_answer(status, body)


class CannedEndpoint:
    """A loopback server answering every request with ``answer(request_head)``'s bytes."""

    def __init__(self, answer: Callable[[bytes], bytes]) -> None:
        self.answer = answer
        self.heads: list[bytes] = []
        self.connections = 0
        #: The credential it serves, when it serves one.
        self.body = b""
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer.connections += 1
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                outer.heads.append(head)
                # A client that stops reading a huge answer resets the connection: expected.
                with contextlib.suppress(OSError):
                    self.request.sendall(outer.answer(head))

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/credential"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def header(self, name: str) -> str | None:
        """The value of header ``name`` in the last request."""
        for line in self.heads[-1].decode("latin-1").split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    def request_target(self) -> str:
        return self.heads[-1].split(b" ")[1].decode()


@pytest.fixture
def canned() -> Iterator[CannedEndpoint]:
    body = credential_body()  # once: its times are the serving's, not each request's
    endpoint = CannedEndpoint(lambda head: http_answer(200, body))
    endpoint.body = body
    endpoint.thread.start()
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()


@pytest.fixture
def client_env(tmp_path: Path) -> dict[str, str]:
    """Nothing but a clean home and the server token (the URL is each test's)."""
    home = tmp_path / "home"
    home.mkdir()
    return {**base_env(home), SERVER_TOKEN_ENV: new_server_token()}


def get(env: dict[str, str], *args: str, url: str | None = None) -> Run:
    if url is not None:
        env = {**env, SERVER_URL_ENV: url}
    return run_cli(["get", *args], env)


# --- the credential, as served ------------------------------------------------------------------


def test_get_asks_for_json_with_the_token_and_prints_each_format_locally(
    canned: CannedEndpoint, client_env: dict[str, str]
) -> None:
    credential = parse_credential(canned.body)
    for fmt in ("json", "token", "env", "sf", "header"):
        run = get(client_env, "--format", fmt, url=canned.url)
        assert run.code == 0, run.stderr
        assert run.stdout == render(credential, fmt)
        assert canned.request_target() == "/credential?format=json"
        assert canned.header("Authorization") == client_env[SERVER_TOKEN_ENV]
        assert canned.header("Host") == f"127.0.0.1:{canned.port}"


def test_a_rejected_digest_is_sent_along(
    canned: CannedEndpoint, client_env: dict[str, str]
) -> None:
    digest = hashlib.sha256(b"a dead token").hexdigest()
    assert get(client_env, "--rejected-sha256", digest.upper(), url=canned.url).code == 0
    assert canned.request_target() == f"/credential?format=json&rejected_sha256={digest}"


def test_the_token_may_come_from_a_file(
    canned: CannedEndpoint, client_env: dict[str, str], tmp_path: Path
) -> None:
    token = client_env.pop(SERVER_TOKEN_ENV)
    path = tmp_path / "server-token"
    path.write_text(f"{token}\n")
    env = {**client_env, SERVER_TOKEN_FILE_ENV: str(path)}
    assert get(env, url=canned.url).code == 0
    assert canned.header("Authorization") == token


def test_refresh_and_no_cache_are_not_sent(
    canned: CannedEndpoint, client_env: dict[str, str]
) -> None:
    run = get(client_env, "--refresh", "--no-cache", url=canned.url)
    assert run.code == 0 and run.credential()["AccessToken"] == SERVED_TOKEN
    assert canned.request_target() == "/credential?format=json"
    assert "--refresh is not sent to the endpoint" in run.stderr
    assert len(run.stderr.splitlines()) == 1, run.stderr


def test_a_process_takes_no_fast_path_when_the_endpoint_is_set(
    org: FaultyEmulator, key: str, env: dict[str, str], canned: CannedEndpoint
) -> None:
    # A get of its own records a fast-path index for these exact arguments and environment...
    args = get_args(org, key)
    env[SERVER_TOKEN_ENV] = new_server_token()
    alone = run_process(args, env)
    assert alone.code == 0, alone.stderr
    assert run_process(args, env).stdout == alone.stdout  # answered from the index
    # ... which never answers once the endpoint's variable is set: the endpoint does.
    through = run_process(args, {**env, SERVER_URL_ENV: canned.url})
    assert through.code == 0, through.stderr
    assert through.credential()["AccessToken"] == SERVED_TOKEN
    assert canned.connections == 1


# --- identity ----------------------------------------------------------------------------------


def test_another_username_is_refused(canned: CannedEndpoint, client_env: dict[str, str]) -> None:
    get(client_env, "--username", "other@acme.example", url=canned.url).assert_failed(
        2, "other@acme.example", "--username", USERNAME, SERVER_URL_ENV
    )
    env = {**client_env, "SF_CREDPROC_USERNAME": "other@acme.example"}
    get(env, url=canned.url).assert_failed(2, "SF_CREDPROC_USERNAME", USERNAME)
    with pytest.raises(ConfigError, match="username="):
        get_credential(
            username="other@acme.example", environ={**client_env, SERVER_URL_ENV: canned.url}
        )


def test_the_same_username_in_another_case_is_accepted(
    canned: CannedEndpoint, client_env: dict[str, str]
) -> None:
    run = get(client_env, "--username", USERNAME.upper(), url=canned.url)
    assert run.credential()["Username"] == USERNAME


def test_the_default_profile_is_not_checked_but_a_named_one_is(
    canned: CannedEndpoint, client_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[profile.default]\nusername = "someone@else.example"\n\n'
        '[profile.prod]\nusername = "someone@else.example"\n'
    )
    env = {**client_env, "SF_CREDPROC_CONFIG": str(config)}
    assert get(env, url=canned.url).code == 0
    get(env, "--profile", "prod", url=canned.url).assert_failed(2, "someone@else.example", "prod")


# --- refused before any connection -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://192.0.2.10:{port}/credential", "not loopback"),
        ("http://127.1:{port}/credential", "canonical"),
        ("http://user:hunter2hunter2@127.0.0.1:{port}/credential", "user name or password"),
        ("http://127.0.0.1:{port}@192.0.2.10/credential", "user name or password"),
        ("http://127.0.0.1:{port}/", "/credential"),
        ("http://127.0.0.1:{port}/credential?format=token", "/credential"),
        ("http://127.0.0.1:{port}/credential/", "/credential"),
        ("http://127.0.0.1:{port}/credential#x", "/credential"),
        ("ftp://127.0.0.1:{port}/credential", "https://"),
        ("127.0.0.1:{port}/credential", "https://"),
        ("http://127.0.0.1:{port}/credential\n", "printable"),
    ],
)
def test_a_url_that_cannot_be_used_is_refused_before_any_connection(
    canned: CannedEndpoint, client_env: dict[str, str], url: str, needle: str
) -> None:
    SECRETS.add("hunter2hunter2")
    get(client_env, url=url.format(port=canned.port)).assert_failed(2, SERVER_URL_ENV, needle)
    assert canned.connections == 0


def test_both_variables_or_no_token_are_refused(
    canned: CannedEndpoint, client_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**client_env, SERVER_SOCKET_ENV: str(tmp_path / "socket")}
    get(env, url=canned.url).assert_failed(2, SERVER_URL_ENV, SERVER_SOCKET_ENV)
    del client_env[SERVER_TOKEN_ENV]
    get(client_env, url=canned.url).assert_failed(2, SERVER_TOKEN_ENV, SERVER_TOKEN_FILE_ENV)
    for path in (tmp_path / "absent", tmp_path):
        env = {**client_env, SERVER_TOKEN_FILE_ENV: str(path)}
        get(env, url=canned.url).assert_failed(2, SERVER_TOKEN_FILE_ENV, str(path))
    env = {**client_env, SERVER_TOKEN_ENV: "two\nlines"}
    get(env, url=canned.url).assert_failed(2, SERVER_TOKEN_ENV, "printable")
    assert canned.connections == 0


# --- hostile answers ---------------------------------------------------------------------------

HOSTILE = {
    "a huge body": (http_answer(200, b"[" * (4 << 20)), 2, "more than"),
    "not JSON": (http_answer(200, b"<html>hello</html>", "text/html"), 2, "not JSON"),
    "a credential missing fields": (
        http_answer(200, json.dumps({"Version": 1, "AccessToken": SERVED_TOKEN}).encode()),
        2,
        "RFC 3339",
    ),
    "a token with a line break": (
        http_answer(200, credential_body(AccessToken="abc\r\nX-Injected: 1")),
        2,
        "AccessToken",
    ),
    "deep nesting": (http_answer(200, b"[" * 30000 + b"]" * 30000), 2, "not JSON"),
    "an error with control characters": (
        error_answer(502, 3, "KeySourceError", "\x1b[31mred\x1b[0m\nsecond line\u202e"),
        3,
        "?[31mred?[0m?second line?",
    ),
    "an error echoing the server token": (None, 2, "[server token]"),
    "a refused assertion": (
        error_answer(502, 4, "SalesforceRefusedError", "user hasn't approved this consumer"),
        4,
        "approved",
    ),
    "a login rate limit": (error_answer(503, 5, "CoolingDown", "cooling down"), 5, "cooling"),
    "a wrong server token": (error_answer(401, 2, "unauthorized", "unauthorized"), 2, "refused"),
    "a bool for a code": (error_answer(500, True, "x", "y"), 5, "500"),
    "a proxy's 503": (http_answer(503, b"busy", "text/plain"), 5, "503"),
    "a redirect": (
        b"HTTP/1.1 302 Found\r\nLocation: http://192.0.2.1/\r\nContent-Length: 0\r\n\r\n",
        2,
        "302",
    ),
    "not HTTP": (b"SSH-2.0-OpenSSH_9.6\r\n", 2, "HTTP/1.1"),
    "a headline too long": (b"HTTP/1.1 200 " + b"x" * 70000 + b"\r\n\r\n", 2, "HTTP/1.1"),
    "a cut answer": (http_answer(200, credential_body())[:-20], 5, "closed the connection"),
    "nothing": (b"", 5, "closed the connection"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_answer_is_one_line_and_its_exit_status(
    canned: CannedEndpoint, client_env: dict[str, str], case: str
) -> None:
    answer, code, needle = HOSTILE[case]
    token = client_env[SERVER_TOKEN_ENV]
    canned.answer = (
        (lambda head: answer)
        if answer is not None
        else (lambda head: error_answer(401, 2, "unauthorized", f"bad token {token}!"))
    )
    run = get(client_env, url=canned.url)
    run.assert_failed(code, SERVER_URL_ENV, needle)
    assert SERVED_TOKEN not in run.stderr and token not in run.stderr
    assert "\x1b" not in run.stderr and "\u202e" not in run.stderr


def test_get_credential_raises_the_exception_of_the_code(
    canned: CannedEndpoint, client_env: dict[str, str]
) -> None:
    canned.answer = lambda head: error_answer(503, 5, "TransientError", "Salesforce is down")
    with pytest.raises(TransientError, match="Salesforce is down"):
        get_credential(environ={**client_env, SERVER_URL_ENV: canned.url})


def test_an_endpoint_that_never_answers_ends_within_the_deadline(
    client_env: dict[str, str],
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts (the kernel does), never reads, never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/credential"
        started = time.monotonic()
        get(client_env, "--timeout", "2", url=url).assert_failed(5, SERVER_URL_ENV, "2 s")
        assert time.monotonic() - started < 30
    finally:
        listener.close()


def test_an_endpoint_that_trickles_ends_within_the_deadline(client_env: dict[str, str]) -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"y" * 1000 + b"\r\n\r\n"
    with trickling_server(head, seconds_per_byte=0.2) as base:
        started = time.monotonic()
        run = get(client_env, "--timeout", "2", url=f"{base}/credential")
        run.assert_failed(5, SERVER_URL_ENV)
        assert time.monotonic() - started < 30


def test_nothing_listening_is_exit_5_asking_whether_serve_runs(
    client_env: dict[str, str], tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    get(client_env, url=f"http://127.0.0.1:{port}/credential").assert_failed(
        5, SERVER_URL_ENV, "sf-credproc serve"
    )
    env = {**client_env, SERVER_SOCKET_ENV: str(tmp_path / "no-socket")}
    get(env).assert_failed(5, SERVER_SOCKET_ENV, "sf-credproc serve")


def test_the_server_token_is_in_no_repr(canned: CannedEndpoint, client_env: dict[str, str]) -> None:
    from sf_credproc.server_client import ServerEndpoint

    env = {**client_env, SERVER_URL_ENV: canned.url}
    endpoint = ServerEndpoint.from_environment(env)
    auth = SalesforceAuth(environ=env)
    token = client_env[SERVER_TOKEN_ENV]
    assert token not in repr(endpoint) and token not in repr(auth)
    assert auth.credential.access_token == SERVED_TOKEN


def test_the_fast_path_knows_the_endpoints_variables() -> None:
    from sf_credproc import fast_path

    assert fast_path.SERVER_ENVIRONMENT == (SERVER_URL_ENV, SERVER_SOCKET_ENV)
