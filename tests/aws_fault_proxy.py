"""A loopback HTTP proxy in front of moto's server that answers chosen AWS actions itself.

moto cannot produce some answers real AWS gives (a disabled key's ``DisabledException``,
``ThrottlingException``, KMS's HTTP 400 ``AccessDeniedException``); this proxy gives them, in AWS's
JSON protocol shape, for the ``X-Amz-Target`` actions a test names, and forwards everything else.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class AwsFaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        #: ``"TrentService.Sign"`` -> (HTTP status, JSON body)
        self.faults: dict[str, tuple[int, dict[str, Any]]] = {}
        self.seen: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.proxy = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def fail(self, target: str, code: str, *, status: int = 400, message: str = "") -> None:
        self.faults[target] = (status, {"__type": code, "message": message or code})

    def start(self) -> AwsFaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        proxy: AwsFaultProxy = self.server.proxy  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.headers.get("X-Amz-Target", "")
        proxy.seen.append(target)
        if target in proxy.faults:
            status, document = proxy.faults[target]
            self._reply(status, json.dumps(document).encode(), "application/x-amz-json-1.1")
            return
        upstream = http.client.HTTPConnection(
            proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port, timeout=30
        )
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        upstream.request("POST", self.path, body=body, headers=headers)
        response = upstream.getresponse()
        self._reply(response.status, response.read(), response.getheader("Content-Type", ""))
        upstream.close()

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
