"""The emulator's HTTP side: a threading server (TLS optional) and the request handler.

Each request is routed to the org (``org.py``) or the REST surface (``rest.py``). Before that, an
``Interceptor`` may answer it instead: a test's outage, a proxy's HTML page, a reset connection. The
shipped emulator intercepts nothing; tests subclass ``SalesforceEmulator`` to inject faults.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct
import sys
from collections.abc import Callable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from .org import EmulatedOrg
from .rest import NOT_FOUND, handle_rest

TOKEN_PATH = "/services/oauth2/token"


class Connection(Protocol):
    """One client connection, as an ``Interceptor`` may answer it."""

    def send(
        self, status: int, body: bytes, content_type: str, *, content_length: int | None = None
    ) -> None:
        """Answer ``status`` with ``body``; a ``content_length`` above ``len(body)`` promises more
        than is sent (a truncated answer, when followed by ``reset``)."""
        ...

    def reset(self) -> None:
        """Drop the connection with a TCP RST: the client sees "connection reset by peer"."""
        ...


#: Answers a request to ``path`` in place of the org, returning True; or returns False to let the
#: org answer. It runs outside the org's lock, so it may wait (a slow server).
Interceptor = Callable[[str, Connection], bool]


class EmulatorServer(ThreadingHTTPServer):
    """Serves ``org`` on ``address``, over TLS when given a server-side ``ssl_context``."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        org: EmulatedOrg,
        intercept: Interceptor,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.org = org
        self.intercept = intercept
        self.ssl_context = ssl_context

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-answer (killed, timed out) is not the emulator's problem.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs in the connection's own thread, so a slow client blocks no one.
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: request lines would go to stderr of whoever embeds the emulator."""

    def finish(self) -> None:
        # After an interceptor reset the connection, there is nothing left to flush.
        with contextlib.suppress(OSError, ValueError):
            super().finish()

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the emulated org's clock, so clock skew can be emulated.
        return formatdate(self.server.org.clock() if timestamp is None else timestamp, usegmt=True)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        org = self.server.org
        parts = urlsplit(self.path)
        body = self._read_body()
        if self.server.intercept(parts.path, self):
            return
        with org.lock:
            org.request_counts[parts.path] += 1
            if parts.path == TOKEN_PATH:
                self._token(method, body)
            elif parts.path == "/services/oauth2/revoke":
                form = _form(body) if method == "POST" else _form(parts.query.encode())
                status, document = org.revoke(form.get("token", ""))
                self._send_json(status, document)
            elif parts.path == "/services/oauth2/userinfo":
                self._userinfo()
            elif parts.path == "/services/data" or parts.path.startswith("/services/data/"):
                status, rest = handle_rest(
                    org, method, parts.path, parts.query, self.headers.get("Authorization", "")
                )
                self._send_json(status, rest)
            else:
                self._send_json(404, NOT_FOUND)

    def reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send a TCP RST: "connection reset by peer".
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _token(self, method: str, body: bytes) -> None:
        if method != "POST":
            self._send_json(
                400, {"error": "invalid_request", "error_description": "must use HTTP POST"}
            )
            return
        content_type = self.headers.get("Content-Type", "")
        form = _form(body) if content_type.startswith("application/x-www-form-urlencoded") else {}
        status, document = self.server.org.token(form, content_type)
        self._send_json(status, document)

    def _userinfo(self) -> None:
        authorization = self.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            self.send(401, b"Missing_OAuth_Token", "text/plain")
            return
        info = self.server.org.userinfo(authorization[len("Bearer ") :].strip())
        if info is None:
            self.send(403, b"Bad_OAuth_Token", "text/plain")
            return
        self._send_json(200, info)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            # Some clients (the Salesforce CLI among them) send request bodies chunked.
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, document: Any) -> None:
        body = b"" if document is None else json.dumps(document).encode()
        self.send(status, body, "application/json;charset=UTF-8")

    def send(
        self, status: int, body: bytes, content_type: str, *, content_length: int | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header(
            "Content-Length", str(len(body) if content_length is None else content_length)
        )
        self.send_header("Cache-Control", "no-cache,must-revalidate,max-age=0,no-store,private")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


def _form(body: bytes) -> dict[str, str]:
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}
