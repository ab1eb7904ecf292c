"""A loopback HTTP server that sends its answer's head one byte at a time and never finishes.

Each byte arrives well inside any read timeout, so only a whole-command deadline (the watchdog)
can end a request to it: the hostile peer that a per-read timeout cannot stop.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def trickling_server(head: bytes, *, seconds_per_byte: float) -> Iterator[str]:
    """Serve one connection with ``head``, a byte every ``seconds_per_byte``; yields its URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        # The client hanging up mid-trickle (its deadline) is the expected end, not an error.
        with connection, contextlib.suppress(OSError):
            for byte in head:
                if stop.wait(seconds_per_byte):
                    return
                connection.sendall(bytes([byte]))

    threading.Thread(target=trickle, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
