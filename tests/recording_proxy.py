"""A loopback proxy that forwards nothing: it records what arrives and answers 502.

Set as ``HTTP_PROXY`` and ``HTTPS_PROXY``, it is a tripwire: any request the command makes through
the environment's proxies (a plain ``GET http://...`` or a ``CONNECT host:443``) is recorded, and
nothing leaves the machine. ``connections`` counts even connections that sent nothing.
"""

from __future__ import annotations

import contextlib
import threading
from socketserver import BaseRequestHandler, ThreadingTCPServer


class RecordingProxy:
    def __init__(self) -> None:
        self.connections = 0
        #: The request line of every request, such as ``CONNECT attacker.example:443 HTTP/1.1``.
        self.request_lines: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> RecordingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def record(self, line: str | None) -> None:
        with self._lock:
            self.connections += 1
            if line is not None:
                self.request_lines.append(line)


class _Handler(BaseRequestHandler):
    def handle(self) -> None:
        proxy: RecordingProxy = self.server.proxy  # type: ignore[attr-defined]
        self.request.settimeout(10)
        head = b""
        try:
            while b"\r\n" not in head and len(head) < 65536:
                chunk = self.request.recv(4096)
                if not chunk:
                    break
                head += chunk
        except OSError:
            pass
        proxy.record(head.split(b"\r\n", 1)[0].decode("latin-1") if head else None)
        with contextlib.suppress(OSError):
            self.request.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
