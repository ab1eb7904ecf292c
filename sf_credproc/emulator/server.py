"""``SalesforceEmulator``: an emulated org (``org.py``) served over HTTP or HTTPS on loopback.

It behaves like a Salesforce org for ``/services/oauth2/token`` (RFC 7523 with Salesforce's checks),
``/services/oauth2/revoke``, ``/services/oauth2/userinfo`` and the few REST calls clients make after
logging in (``rest.py``). Used by the test suite, ``sf-credproc demo`` and ``sf-credproc emulator``;
standard library plus PyJWT and cryptography only.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from .handler import Connection, EmulatorServer
from .org import EmulatedOrg

#: A subclass started with ``start()`` or ``with`` is returned as itself.
_Emulator = TypeVar("_Emulator", bound="SalesforceEmulator")


class SalesforceEmulator(EmulatedOrg):
    """One emulated org serving the OAuth endpoints on ``url`` (http, or https with a context)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        audiences: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._server = EmulatorServer((host, port), self, self.intercept, ssl_context)
        bound_host, bound_port = str(self._server.server_address[0]), self._server.server_address[1]
        scheme = "https" if ssl_context else "http"
        shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        super().__init__(f"{scheme}://{shown_host}:{bound_port}", audiences=audiences, clock=clock)
        self._thread: threading.Thread | None = None

    def intercept(self, path: str, connection: Connection) -> bool:
        """Answer a request to ``path`` before the org does (True), or let the org answer (False).

        The emulator intercepts nothing. A subclass may, to emulate outages and network faults in
        its own tests: it runs outside ``lock``, so it may wait, and the request is counted in
        ``request_counts`` only if the org answers it.
        """
        return False

    def start(self: _Emulator) -> _Emulator:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self: _Emulator) -> _Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
