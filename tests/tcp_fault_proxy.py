"""A loopback TCP proxy that misbehaves on chosen connections, then forwards the rest.

For faults below HTTP: a connection reset before TLS, a TLS handshake that never completes, a
listener that appears only after a while (connection refused until then), a server that trickles
its answer. TLS stays end to end between the client and the emulator behind.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from socketserver import BaseRequestHandler, ThreadingTCPServer


class TcpFaultProxy:
    """``plan`` holds one action per new connection: ``reset``, ``hang`` or ``trickle``; then ``pass``."""

    def __init__(self, target_port: int, plan: list[str] | None = None, *, port: int = 0) -> None:
        self.target = ("127.0.0.1", target_port)
        self.plan = list(plan or [])
        self.connections = 0
        self.hang_seconds = 30.0
        ThreadingTCPServer.allow_reuse_address = True
        self._server = ThreadingTCPServer(("127.0.0.1", port), _Handler, bind_and_activate=False)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self._server.server_bind()
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> TcpFaultProxy:
        """Listen (connections are refused until this returns), then serve in a thread."""
        self._server.server_activate()
        self._thread.start()
        return self

    def next_action(self) -> str:
        self.connections += 1
        return self.plan.pop(0) if self.plan else "pass"

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


class _Handler(BaseRequestHandler):
    def handle(self) -> None:
        proxy: TcpFaultProxy = self.server.proxy  # type: ignore[attr-defined]
        client: socket.socket = self.request
        action = proxy.next_action()
        if action == "reset":
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            return
        if action == "hang":  # accept, read, never answer: the TLS handshake stalls
            client.settimeout(proxy.hang_seconds)
            with contextlib.suppress(OSError):
                while client.recv(4096):
                    pass
            return
        upstream = socket.create_connection(proxy.target, timeout=30)
        pump = threading.Thread(target=_copy, args=(client, upstream, 0.0), daemon=True)
        pump.start()
        _copy(upstream, client, 0.4 if action == "trickle" else 0.0)
        pump.join(timeout=30)
        upstream.close()


def _copy(source: socket.socket, sink: socket.socket, pause: float) -> None:
    """Forward bytes; with a pause, one byte at a time (a server that trickles its answer)."""
    try:
        while data := source.recv(1 if pause else 65536):
            sink.sendall(data)
            if pause:
                time.sleep(pause)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
