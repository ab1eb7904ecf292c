"""Closing the server: stop accepting, drain the connections, let every transport detach.

The order matters because of how asyncio accepts. The listening socket's reader accepts a
connection and schedules a task that builds its transport one loop turn later; a ``Server.close()``
that falls between the two leaves a transport built for a closed server. CPython's ``_attach``
refuses it, the half-built transport is dropped, and its ``__del__`` wakes the closed server a
second time: on Python 3.13.0 a ``TypeError`` traceback on stderr at exit (CPython issue
gh-109564). So the reader is removed first, one loop turn lets the connections already accepted
get their transports, and only then is the server closed. Those late connections see the
``ConnectionSet`` stopping and close at once, like the idle ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from .http11 import ConnectionSet

#: How long the closed server waits for its last transports to detach.
DETACH_SECONDS = 2.0


async def close_server(
    server: asyncio.Server,
    listening: socket.socket,
    connections: ConnectionSet,
    drain_seconds: float,
) -> None:
    """Stop accepting, close idle connections, let requests in flight finish within
    ``drain_seconds`` (then abort them), and wait for the transports to detach."""
    loop = asyncio.get_running_loop()
    connections.stop()
    loop.remove_reader(listening.fileno())  # no new accept; a pending one is cancelled
    await asyncio.sleep(0)  # the accept tasks already scheduled build their transports
    server.close()  # the listening socket closes; no new connections
    for connection in list(connections.open):
        connection.shutdown()
    try:
        await asyncio.wait_for(connections.drained(), drain_seconds)
    except asyncio.TimeoutError:
        for connection in list(connections.open):
            connection.abort()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(server.wait_closed(), DETACH_SECONDS)
