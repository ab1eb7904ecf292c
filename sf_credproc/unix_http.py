"""HTTP/1.1 over a Unix stream socket, with the standard library's ``http.client``.

``http.client.HTTPConnection`` speaks RFC 9112 over whatever ``self.sock`` is; only ``connect()``
is about TCP. Opening ``AF_UNIX`` there instead gives every client of a socket-bound endpoint
(``sf-credproc serve --socket``) the same parser, limits and errors as loopback TCP. The ``Host``
header names ``localhost``: the endpoint does not check it over a socket, which no browser can
reach (RFC 9110 section 7.2 asks only that one be sent).
"""

from __future__ import annotations

import http.client
import socket


class UnixHTTPConnection(http.client.HTTPConnection):
    """An ``HTTPConnection`` to the Unix socket at ``path``; ``timeout`` bounds each operation."""

    def __init__(self, path: str, *, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
