"""What every test of the credential endpoint (``serve``, ``exec --server``) shares.

- ``ServeProcess``: ``sf-credproc serve`` as a real process (the console script), its one stdout
  line read within a bound, its stderr collected as it comes; a context manager that always kills
  and reaps, then checks the stderr for leaks and tracebacks.
- ``request`` / ``get_json``: one HTTP/1.1 request through ``http.client``, so that a test decides
  every header (``Host`` and ``Authorization`` included, or their absence), over TCP, TLS or a Unix
  socket. Every answer is checked against the contract's headers (``Cache-Control: no-store``, a
  true ``Content-Length``, no ``Access-Control-*``) unless a test asks for the raw answer.
- ``held_org``: the emulator whose token endpoint holds requests at a gate (``HoldingEmulator``),
  for the tests that need a login in progress (``/healthz`` before the first login, SIGTERM with
  requests in flight).
"""

from __future__ import annotations

import calendar
import contextlib
import http.client
import json
import os
import queue
import secrets
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import (
    CLIENT_ID,
    EMULATORS,
    EXE,
    SECRETS,
    USERNAME,
    Run,
    assert_no_leaks,
    get_args,
    pem_public,
    with_default_sigint,
)
from test_auth_refresh import HoldingEmulator

from sf_credproc.config.serve_options import SERVER_TOKEN_ENV
from sf_credproc.credential import Credential
from sf_credproc.emulator import SalesforceEmulator

#: How long a server may take to print its address (a loaded 2-core machine starting Python).
URL_LINE_SECONDS = 60.0
#: How long a test waits for what must happen "soon" (a refresh, a reload, an exit).
SOON_SECONDS = 60.0
#: Every field of the credential contract (version 1), as ``get`` prints it.
CREDENTIAL_FIELDS = {
    "Version",
    "AccessToken",
    "TokenType",
    "InstanceUrl",
    "Id",
    "OrgId",
    "Username",
    "Scope",
    "IssuedAt",
    "Expiration",
}
#: The keys of every error answer.
ERROR_FIELDS = {"code", "kind", "message"}


def new_server_token() -> str:
    """A fresh server token, registered as a secret: no output of any test may show it."""
    token = secrets.token_urlsafe(32)
    SECRETS.add(token)
    return token


def serve_args(emulator: SalesforceEmulator, key: str, *extra: str) -> list[str]:
    """``serve`` with the get arguments of the test org and key source ``key``."""
    return ["serve", *get_args(emulator, key)[1:], *extra]


def wait_until(condition: Callable[[], bool], what: str, *, timeout: float = SOON_SECONDS) -> None:
    """Poll ``condition`` until it holds (for what gives no event to wait on: a port closing)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.02)


# --- the server as a process ---------------------------------------------------------------------


class ServeProcess:
    """``sf-credproc ARGS`` (``serve ...``) as a process, until the block ends.

    The server token is ``token`` (a fresh one by default) passed in ``SF_CREDPROC_SERVER_TOKEN``;
    ``token_in_env=False`` passes none (the server generates or reads one; a test then sets
    ``.token``). ``wait_for_url=False`` leaves reading the stdout line to the test (a server
    expected to fail at start: ``wait()`` then ``stdout``).
    """

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        *,
        token: str | None = None,
        token_in_env: bool = True,
        wait_for_url: bool = True,
    ) -> None:
        self.args = list(args)
        self.env = dict(env)
        self.token = ""
        if token_in_env:
            self.token = token or new_server_token()
            SECRETS.add(self.token)
            self.env[SERVER_TOKEN_ENV] = self.token
        self.url = ""
        self.scheme = ""
        self.host = ""
        self.port = 0
        self.socket_path: str | None = None
        self.stdout = ""
        self._wait_for_url = wait_for_url
        self._stdout_lines: queue.Queue[str | None] = queue.Queue()
        self._stderr_lines: list[str] = []
        self._stderr_changed = threading.Condition()
        self._threads: list[threading.Thread] = []
        self.process: subprocess.Popen[str] | None = None

    # -- starting ---------------------------------------------------------------------------------

    def start(self) -> ServeProcess:
        self.process = subprocess.Popen(
            with_default_sigint([str(EXE), *self.args]),
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(self.process.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self.process.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        if self._wait_for_url:
            self.read_url()
        return self

    def __enter__(self) -> ServeProcess:
        try:
            return self.start()
        except BaseException:
            self._kill_and_reap()
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        code = self._kill_and_reap()
        if kind is None:
            self.assert_clean(code)

    def read_url(self, timeout: float = URL_LINE_SECONDS) -> str:
        """The one line the server prints when it listens: its URL (or ``unix:PATH``)."""
        try:
            line = self._stdout_lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no URL line within {timeout:.0f} s; stderr: {self.stderr_text()!r}"
            ) from None
        if line is None:
            code = self.wait()
            raise AssertionError(f"exited {code} before printing a URL: {self.stderr_text()!r}")
        self.stdout += line
        assert line.endswith("\n"), line
        self.url = line.rstrip("\n")
        if self.url.startswith("unix:"):
            self.scheme, self.socket_path = "unix", self.url.removeprefix("unix:")
            assert os.path.isabs(self.socket_path), self.url
        else:
            parts = urllib.parse.urlsplit(self.url)
            assert parts.scheme in ("http", "https"), self.url
            assert parts.path == "/credential", self.url
            assert parts.hostname and parts.port, self.url
            self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        return self.url

    # -- the process's streams --------------------------------------------------------------------

    def _read_stdout(self, stream: Any) -> None:
        for line in stream:
            self._stdout_lines.put(line)
        self._stdout_lines.put(None)

    def _read_stderr(self, stream: Any) -> None:
        for line in stream:
            with self._stderr_changed:
                self._stderr_lines.append(line)
                self._stderr_changed.notify_all()

    def stderr_text(self) -> str:
        with self._stderr_changed:
            return "".join(self._stderr_lines)

    def stderr_lines(self) -> list[str]:
        with self._stderr_changed:
            return [line.rstrip("\n") for line in self._stderr_lines]

    def wait_for_stderr(
        self, condition: Callable[[list[str]], bool], what: str, *, timeout: float = SOON_SECONDS
    ) -> list[str]:
        """Wait until ``condition`` holds for the stderr lines so far; returns them."""
        deadline = time.monotonic() + timeout
        with self._stderr_changed:
            while True:
                lines = [line.rstrip("\n") for line in self._stderr_lines]
                if condition(lines):
                    return lines
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"not within {timeout:.0f} s: {what}; stderr: {lines!r}")
                self._stderr_changed.wait(min(left, 0.5))

    def rest_of_stdout(self) -> str:
        """What the process printed on stdout after the URL line (once it has exited)."""
        rest: list[str] = []
        while True:
            line = self._stdout_lines.get(timeout=SOON_SECONDS)
            if line is None:
                self._stdout_lines.put(None)
                return "".join(rest)
            rest.append(line)

    # -- signals and exit -------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait(self, timeout: float = SOON_SECONDS) -> int:
        """The exit status (``-N`` for a death by signal N); the streams read to their end."""
        assert self.process is not None
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running after {timeout:.0f} s; stderr: {self.stderr_text()!r}"
            ) from None
        for thread in self._threads:
            thread.join(timeout=SOON_SECONDS)
        return code

    def _kill_and_reap(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait(timeout=SOON_SECONDS)
        for thread in self._threads:
            thread.join(timeout=SOON_SECONDS)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code

    def assert_clean(self, code: int | None) -> None:
        """No secret and no traceback in anything the process wrote."""
        stderr = self.stderr_text()
        assert "Traceback" not in stderr, stderr
        assert_no_leaks(Run(code if code is not None else -1, self.stdout, stderr))


def assert_one_error_line(code: int, stderr: str, *needles: str) -> None:
    """A refused start: exit ``code`` and one stderr line, no traceback, naming every needle."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("sf-credproc: "), stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in stderr, f"{needle!r} not in {stderr!r}"


# --- requests ------------------------------------------------------------------------------------


@dataclass
class Answer:
    """One HTTP answer, as it came."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    _document: Any = field(default=None, repr=False)

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        assert len(values) <= 1, f"{name} repeated: {values}"
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        if self._document is None:
            self._document = json.loads(self.body)
        return self._document


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(self.timeout)
        connection.connect(self.path)
        self.sock = connection


class AddressedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to ``address`` (loopback) while the TLS handshake names ``server_name`` (SNI and the
    certificate check): a certificate for a DNS name, tested without touching any resolver."""

    def __init__(
        self, address: tuple[str, int], server_name: str, context: ssl.SSLContext, timeout: float
    ) -> None:
        super().__init__(server_name, address[1], context=context, timeout=timeout)
        self.address = address
        self.server_name = server_name
        self.tls_context = context

    def connect(self) -> None:
        raw = socket.create_connection(self.address, self.timeout)
        self.sock = self.tls_context.wrap_socket(raw, server_hostname=self.server_name)


def connection_for(
    url: str,
    *,
    timeout: float = SOON_SECONDS,
    context: ssl.SSLContext | None = None,
    server_name: str | None = None,
) -> http.client.HTTPConnection:
    """A connection to the server of ``url`` (``http://``, ``https://`` or ``unix:PATH``)."""
    if url.startswith("unix:"):
        return UnixHTTPConnection(url.removeprefix("unix:"), timeout)
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname and parts.port, url
    if parts.scheme == "https":
        assert context is not None, "https needs the test CA's context"
        return AddressedHTTPSConnection(
            (parts.hostname, parts.port), server_name or parts.hostname, context, timeout
        )
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def default_host(url: str) -> str:
    """The ``Host`` a browser or curl sends for ``url`` (``localhost`` for a Unix socket)."""
    if url.startswith("unix:"):
        return "localhost"
    return urllib.parse.urlsplit(url).netloc


def send_request(
    conn: http.client.HTTPConnection,
    url: str,
    token: str | None,
    *,
    method: str = "GET",
    path: str = "/credential",
    query: Sequence[tuple[str, str]] | Mapping[str, str] | str | None = None,
    host: str | None = None,
    send_host: bool = True,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> None:
    """Send one request on ``conn`` (its answer is read with ``read_answer``):
    ``Authorization: <token>`` unless ``token`` is None, ``Host`` as ``host`` (default: the URL's)
    unless ``send_host`` is False, ``query`` encoded (a string is sent as it is)."""
    target = path
    if query:
        target += "?" + (query if isinstance(query, str) else urllib.parse.urlencode(query))
    conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
    if send_host:
        conn.putheader("Host", host if host is not None else default_host(url))
    if token is not None:
        conn.putheader("Authorization", token)
    for name, value in (headers or {}).items():
        conn.putheader(name, value)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)


def read_answer(
    conn: http.client.HTTPConnection, *, check: bool = True, head: bool = False
) -> Answer:
    """The answer to the request sent on ``conn``; ``check``: ``assert_contract_headers``."""
    response = conn.getresponse()
    answer = Answer(response.status, response.reason, list(response.getheaders()), response.read())
    if check:
        assert_contract_headers(answer, head=head)
    return answer


def request(
    url: str,
    token: str | None,
    *,
    context: ssl.SSLContext | None = None,
    server_name: str | None = None,
    connection: http.client.HTTPConnection | None = None,
    check: bool = True,
    timeout: float = SOON_SECONDS,
    **options: Any,
) -> Answer:
    """One request to the server of ``url`` (``send_request``'s options), on a new connection or
    on ``connection`` (keep-alive); ``check``: assert the headers every answer must carry."""
    conn = connection or connection_for(
        url, timeout=timeout, context=context, server_name=server_name
    )
    try:
        send_request(conn, url, token, **options)
        return read_answer(conn, check=check, head=options.get("method") == "HEAD")
    finally:
        if connection is None:
            conn.close()


def get_json(url: str, token: str | None, **options: Any) -> Answer:
    """``request``, whose answer must be JSON (``Content-Type: application/json``)."""
    answer = request(url, token, **options)
    content_type = answer.header("Content-Type") or ""
    assert content_type.split(";")[0].strip() == "application/json", answer
    answer.json()
    return answer


def assert_contract_headers(answer: Answer, *, head: bool = False) -> None:
    """What every answer carries: ``Cache-Control: no-store``, a true ``Content-Length``, and no
    CORS header at all (``Access-Control-*``): a browser page must never read an answer."""
    assert answer.header("Cache-Control") == "no-store", answer.headers
    length = answer.header("Content-Length")
    assert length is not None, answer.headers
    if not head:
        assert int(length) == len(answer.body), answer.headers
    cors = [name for name, _ in answer.headers if name.lower().startswith("access-control-")]
    assert not cors, answer.headers


def assert_error(answer: Answer, status: int, kind: str | tuple[str, ...], code: int = 2) -> None:
    """An error answer: ``status``, and exactly ``{"code", "kind", "message"}``, the message one
    line with no secret in it."""
    assert answer.status == status, (answer.status, answer.body)
    assert (answer.header("Content-Type") or "").startswith("application/json"), answer.headers
    document = answer.json()
    assert isinstance(document, dict), document
    assert set(document) == ERROR_FIELDS, document
    kinds = (kind,) if isinstance(kind, str) else kind
    assert document["kind"] in kinds, document
    assert document["code"] == code, document
    message = document["message"]
    assert isinstance(message, str) and message, document
    assert "\n" not in message, document
    assert_no_secret_in(answer.body.decode("utf-8", "replace"))


def assert_no_secret_in(text: str) -> None:
    """No server token, key material or access token issued by any emulator in ``text``."""
    for secret in SECRETS:
        assert secret not in text, "a secret leaked into an answer"
    for emulator in EMULATORS:
        with emulator.lock:
            tokens = list(emulator.sessions)
        for token in tokens:
            assert token.split("!", 1)[-1] not in text, "an access token leaked"


def wait_ready(url: str, *, timeout: float = SOON_SECONDS) -> None:
    """Wait until ``/healthz`` says ready (the first login done)."""

    def ready() -> bool:
        return bool(get_json(url, None, path="/healthz").json() == {"ready": True})

    wait_until(ready, "the endpoint ready", timeout=timeout)


def refuses_connections(url: str) -> bool:
    """True when nothing accepts a connection at ``url``'s address any more."""
    try:
        if url.startswith("unix:"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(5)
                probe.connect(url.removeprefix("unix:"))
        else:
            parts = urllib.parse.urlsplit(url)
            assert parts.hostname and parts.port
            socket.create_connection((parts.hostname, parts.port), timeout=5).close()
    except (ConnectionRefusedError, FileNotFoundError):
        return True
    return False


@contextlib.contextmanager
def raw_connection(url: str, *, timeout: float = SOON_SECONDS) -> Iterator[socket.socket]:
    """A plain socket to the server of ``url`` (TCP or Unix), for hostile bytes."""
    if url.startswith("unix:"):
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(timeout)
        connection.connect(url.removeprefix("unix:"))
    else:
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname and parts.port
        connection = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    try:
        yield connection
    finally:
        connection.close()


def read_until_closed(connection: socket.socket, limit: int = 1 << 20) -> bytes:
    """Everything the server sends until it closes the connection (or resets it)."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while len(received) < limit:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


# --- an emulator whose logins wait at a gate -----------------------------------------------------


@pytest.fixture(scope="module")
def holding_emulator(ca: trustme.CA) -> Iterator[HoldingEmulator]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with HoldingEmulator(ssl_context=context) as emulator:
        EMULATORS.append(emulator)
        yield emulator
        EMULATORS.remove(emulator)


@pytest.fixture
def held_org(
    holding_emulator: HoldingEmulator, app_key: rsa.RSAPrivateKey
) -> Iterator[HoldingEmulator]:
    """The test org, whose token endpoint holds every request while ``gate`` is clear
    (``held_org.gate.clear()`` closes it; ``held_org.held`` is set when a login waits there)."""
    holding_emulator.reset()
    holding_emulator.register_app(CLIENT_ID, pem_public(app_key))
    holding_emulator.add_user(USERNAME, approve=[CLIENT_ID])
    yield holding_emulator
    holding_emulator.gate.set()  # never leave a handler thread waiting


def tls_context_trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts only the test CA."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def write_private(path: Path, data: bytes) -> Path:
    """``data`` in a new file readable by its owner only."""
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def credential_of(document: Any) -> Credential:
    """The ``Credential`` of a JSON answer of the output contract."""

    def epoch(stamp: str) -> int:
        return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))

    return Credential.from_document(
        document,
        issued_at=epoch(document["IssuedAt"]),
        expiration=epoch(document["Expiration"]),
    )
