"""A loopback HTTP proxy in front of moto's server that answers chosen AWS actions itself.

moto cannot produce some answers real AWS gives (a disabled key's ``DisabledException``,
``ThrottlingException``, KMS's HTTP 400 ``AccessDeniedException``, a 503 page, a reset connection);
this proxy gives them, in AWS's JSON protocol shape, for the ``X-Amz-Target`` actions a test names,
persistently or for the next N calls, and forwards everything else. It can also hang: forward the
call (so its effect happens) and never answer, as a connection that dies mid-answer does.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Fault:
    status: int
    body: bytes
    content_type: str
    #: None: every call; otherwise the number of calls still to fail.
    remaining: int | None
    reset: bool = False
    hang: bool = False


class AwsFaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.faults: dict[str, Fault] = {}
        self.seen: list[str] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def fail(
        self,
        target: str,
        code: str,
        *,
        status: int = 400,
        message: str = "",
        times: int | None = None,
    ) -> None:
        """Answer ``target`` with the AWS error ``code`` (every time, or ``times`` times)."""
        body = json.dumps({"__type": code, "message": message or code}).encode()
        self.faults[target] = Fault(status, body, "application/x-amz-json-1.1", times)

    def page(self, target: str, status: int, *, times: int | None = None) -> None:
        """Answer with an HTML error page, as a load balancer in trouble does."""
        self.faults[target] = Fault(
            status, b"<html><body>Service Unavailable</body></html>", "text/html", times
        )

    def reset(self, target: str, *, times: int | None = None) -> None:
        """Drop the connection without an answer."""
        self.faults[target] = Fault(0, b"", "", times, reset=True)

    def hang(self, target: str, *, times: int | None = None) -> None:
        """Forward the call to moto, then hold the connection without answering until the proxy
        stops: the call's effect happens, but the caller never learns of it."""
        self.faults[target] = Fault(0, b"", "", times, hang=True)

    def take(self, target: str) -> Fault | None:
        with self._lock:
            self.seen.append(target)
            fault = self.faults.get(target)
            if fault is None or fault.remaining == 0:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
            return fault

    def start(self) -> AwsFaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()  # ends the hanging handlers
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        proxy: AwsFaultProxy = self.server.proxy  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fault = proxy.take(self.headers.get("X-Amz-Target", ""))
        if fault is not None and fault.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault is not None and not fault.hang:
            self._reply(fault.status, fault.body, fault.content_type)
            return
        upstream = http.client.HTTPConnection(
            proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port, timeout=30
        )
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        upstream.request("POST", self.path, body=body, headers=headers)
        response = upstream.getresponse()
        answer = response.read()
        upstream.close()
        if fault is not None and fault.hang:
            proxy._stopped.wait(120)
            self.close_connection = True
            return
        self._reply(response.status, answer, response.getheader("Content-Type", ""))

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
