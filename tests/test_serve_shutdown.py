"""Closing the server (``serve/shutdown.py``) on a real asyncio server and real sockets: a
connection the kernel accepted as the server closes is closed in order, and nothing is left for
the garbage collector to report (on Python 3.13.0 that was a ``TypeError`` traceback at exit)."""

from __future__ import annotations

import asyncio
import gc
import socket
import sys
from typing import Any

import pytest

from sf_credproc.serve.http11 import ConnectionSet, HttpConnection, Request
from sf_credproc.serve.responses import Response
from sf_credproc.serve.shutdown import close_server

ROUNDS = 20


def echo(request: Request) -> Response:
    return Response(200, b"", request.path.encode())


async def accept_as_the_server_closes(
    errors: list[dict[str, Any]],
) -> tuple[socket.socket, ConnectionSet]:
    """A client connects while the loop is busy; in the very loop turn whose accept callback takes
    that connection, the server is told to stop before the callback runs (as a SIGTERM that
    arrives with a connection is): the accept task then runs after the stop has begun. What the
    loop reports (in debug mode, a transport it could not build) goes to ``errors``."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    connections = ConnectionSet(10)
    listening = socket.create_server(("127.0.0.1", 0))
    server = await loop.create_server(
        lambda: HttpConnection(echo, connections, 30.0), sock=listening
    )
    stopping = asyncio.Event()

    async def serve() -> None:
        await stopping.wait()
        await close_server(server, listening, connections, drain_seconds=5.0)

    serving = asyncio.create_task(serve())
    await asyncio.sleep(0)  # serve() waits for the stop
    client = socket.create_connection(listening.getsockname())  # in the backlog, not accepted yet
    loop.call_soon(stopping.set)  # runs ahead of the accept callback of the next loop turn
    await asyncio.wait_for(serving, 10)
    return client, connections


def test_a_connection_accepted_as_the_server_closes_is_closed_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unraisable: list[Any] = []
    errors: list[dict[str, Any]] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    for _ in range(ROUNDS):
        client, connections = asyncio.run(accept_as_the_server_closes(errors), debug=True)
        with client:
            gc.collect()  # a half-built transport would report itself from __del__ now
            assert errors == [], [context.get("message") for context in errors]
            client.settimeout(5)
            assert client.recv(1) == b"", "an orderly close (FIN), not an answer or a reset"
        assert not connections.open
    assert unraisable == [], [(u.exc_type, u.exc_value, u.object) for u in unraisable]


def test_an_idle_kept_alive_connection_is_closed_and_the_server_stops_listening() -> None:
    async def scenario() -> tuple[bytes, tuple[str, int]]:
        loop = asyncio.get_running_loop()
        connections = ConnectionSet(10)
        listening = socket.create_server(("127.0.0.1", 0))
        address = listening.getsockname()
        server = await loop.create_server(
            lambda: HttpConnection(echo, connections, 30.0), sock=listening
        )
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        await reader.readexactly(2)  # the body, "/a": the connection is now idle, kept alive
        await close_server(server, listening, connections, drain_seconds=5.0)
        rest = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        return rest, address

    rest, address = asyncio.run(scenario())
    assert rest == b""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5).close()
