"""HTTP for the tests of the credential endpoint: one request through ``http.client``.

``request`` / ``get_json`` let a test decide every header (``Host`` and ``Authorization``
included, or their absence), over TCP, TLS or a Unix socket, on a new or a kept-alive connection.
Every answer is checked against the headers the contract promises on all of them
(``Cache-Control: no-store``, RFC 9111 section 5.2.2.5; a true ``Content-Length``; no
``Access-Control-*`` field) unless a test asks for the raw answer. ``serve_fixtures`` re-exports
all of it.
"""

from __future__ import annotations

import calendar
import contextlib
import http.client
import json
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import trustme
from helpers import EMULATORS, SECRETS

from sf_credproc.credential import Credential

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


def wait_until(condition: Callable[[], bool], what: str, *, timeout: float = SOON_SECONDS) -> None:
    """Poll ``condition`` until it holds (for what gives no event to wait on: a port closing)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.02)


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


def tls_context_trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts only the test CA."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def credential_of(document: Any) -> Credential:
    """The ``Credential`` of a JSON answer of the output contract."""

    def epoch(stamp: str) -> int:
        return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))

    return Credential.from_document(
        document,
        issued_at=epoch(document["IssuedAt"]),
        expiration=epoch(document["Expiration"]),
    )
