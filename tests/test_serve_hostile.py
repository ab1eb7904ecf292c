"""Hostile clients of the endpoint: the server answers or closes, keeps serving the others, and
never prints a traceback.

A request head over 8 KiB, a slowloris that never finishes its head, bytes that are not HTTP, a body
on GET (RFC 9110 section 9.3.1: no defined semantics; refused), 1,000 connections opened and dropped.
Every test ends with well-formed requests answered 200, and the block's exit check finds no
traceback and no secret in the server's stderr.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from faulty_emulator import FaultyEmulator
from serve_fixtures import (
    ServeProcess,
    get_json,
    raw_connection,
    read_until_closed,
    request,
    serve_args,
)

HEAD_LIMIT = 8 * 1024
DROPPED = 1000
SLOW_CLIENTS = 20


@pytest.fixture
def server(org: FaultyEmulator, key: str, env: dict[str, str]) -> Iterator[ServeProcess]:
    with ServeProcess(serve_args(org, key, "--no-access-log"), env) as served:
        assert get_json(served.url, served.token).status == 200  # logged in
        yield served
        assert served.running(), served.stderr_text()
        assert "Traceback" not in served.stderr_text()


def status_of(raw: bytes) -> int:
    """The status of the first answer in ``raw``; 0 when the server closed without one."""
    if not raw:
        return 0
    line = raw.split(b"\r\n", 1)[0].split()
    assert line[0] in (b"HTTP/1.1", b"HTTP/1.0"), raw[:200]
    return int(line[1])


def head(served: ServeProcess, *extra: str, target: str = "/credential") -> bytes:
    fields = [f"Host: 127.0.0.1:{served.port}", f"Authorization: {served.token}", *extra]
    return (f"GET {target} HTTP/1.1\r\n" + "".join(f"{f}\r\n" for f in fields) + "\r\n").encode()


def still_serving(served: ServeProcess, times: int = 3) -> None:
    for _ in range(times):
        assert request(served.url, served.token).status == 200


def test_a_request_head_over_8_kib_is_refused_and_closed(server: ServeProcess) -> None:
    for pad in (HEAD_LIMIT, 64 * 1024, 1024 * 1024):
        with raw_connection(server.url) as connection:
            payload = head(server, f"X-Pad: {'a' * pad}")
            # Closed before the whole head arrived: refused as well.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                connection.sendall(payload)
            raw = read_until_closed(connection)
        assert status_of(raw) in (0, 400, 431), raw[:200]
        assert b"AccessToken" not in raw
    # Many small fields adding up past the limit.
    with raw_connection(server.url) as connection:
        fields = [f"X-Field-{n}: {'b' * 100}" for n in range(120)]
        connection.sendall(head(server, *fields))
        raw = read_until_closed(connection)
    assert status_of(raw) in (0, 400, 431), raw[:200]
    assert b"AccessToken" not in raw
    still_serving(server)


def test_slow_clients_that_never_finish_their_head_do_not_stop_the_others(
    server: ServeProcess,
) -> None:
    slow = []
    try:
        for _ in range(SLOW_CLIENTS):
            connection = socket.create_connection(("127.0.0.1", server.port), timeout=60)
            connection.sendall(head(server)[:-2])  # all but the final CRLF, then silence
            slow.append(connection)
        still_serving(server, times=10)
    finally:
        for connection in slow:
            connection.close()
    still_serving(server)


GARBAGE = {
    "zero bytes": b"\x00" * 64,
    "binary": bytes(range(256)),
    "a TLS ClientHello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x42" * 64,
    "no version": b"GET /credential\r\n\r\n",
    "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "another version": b"GET /credential HTTP/9.9\r\nHost: x\r\n\r\n",
    "a bad request line": b"GET  /credential  HTTP/1.1\r\nHost: x\r\n\r\n",
    "a line without a colon": b"GET /credential HTTP/1.1\r\nHost x\r\n\r\n",
    "control characters": b"GET /cred\x01ential HTTP/1.1\r\nHost: x\r\n\r\n",
    "a folded field": b"GET /credential HTTP/1.1\r\nHost: x\r\n  folded\r\n\r\n",
    "non-UTF-8 field": b"GET /credential HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n",
    "only CRLFs": b"\r\n" * 100,
}


def test_bytes_that_are_not_a_request_are_refused(server: ServeProcess) -> None:
    for what, garbage in GARBAGE.items():
        with raw_connection(server.url, timeout=30) as connection:
            connection.sendall(garbage)
            with contextlib.suppress(OSError):  # already closed by the server
                connection.shutdown(socket.SHUT_WR)
            raw = read_until_closed(connection)
        assert status_of(raw) in (0, 400, 421, 505), (what, raw[:200])
        assert b"AccessToken" not in raw, what
        still_serving(server, times=1)


@pytest.mark.parametrize(
    "fields",
    [
        ("Content-Length: 5",),
        ("Transfer-Encoding: chunked",),
        ("Content-Length: 5", "Content-Length: 6"),
    ],
    ids=["content-length", "chunked", "two lengths"],
)
def test_a_body_on_get_is_refused_and_closed(server: ServeProcess, fields: tuple[str, ...]) -> None:
    body = b"hello" if "chunked" not in fields[0] else b"5\r\nhello\r\n0\r\n\r\n"
    with raw_connection(server.url) as connection:
        connection.sendall(head(server, *fields) + body + head(server))
        raw = read_until_closed(connection)
    assert status_of(raw) == 400, raw[:300]
    assert raw.count(b"HTTP/1.1 ") == 1, "a request after a body was answered"
    assert b"AccessToken" not in raw
    still_serving(server)


def test_a_thousand_connections_opened_and_dropped(server: ServeProcess) -> None:
    batch = 100
    for start in range(0, DROPPED, batch):
        connections = [
            socket.create_connection(("127.0.0.1", server.port), timeout=60) for _ in range(batch)
        ]
        for number, connection in enumerate(connections):
            kind = (start + number) % 4
            if kind == 1:  # reset instead of a clean close
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif kind == 2:  # half a request
                connection.sendall(head(server)[:20])
            elif kind == 3:  # a whole request, never reading the answer
                connection.sendall(head(server))
            connection.close()
        still_serving(server, times=1)
    still_serving(server, times=10)


def test_pipelined_requests_are_answered_in_order(server: ServeProcess) -> None:
    with raw_connection(server.url) as connection:
        connection.sendall(
            head(server, target="/healthz")
            + head(server, target="/nothing-here")
            + head(server, "Connection: close")
        )
        raw = read_until_closed(connection)
    assert statuses_in(raw) == [200, 404, 200], raw[:500]


def statuses_in(raw: bytes) -> list[int]:
    """The status of every answer in ``raw`` (answers are small JSON: no status line inside)."""
    found = []
    for part in raw.split(b"HTTP/1.1 ")[1:]:
        code = part[:3]
        if code.isdigit():
            found.append(int(code))
    return found


def test_many_clients_at_once_all_get_the_token(server: ServeProcess) -> None:
    tokens: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(10):
            token = get_json(server.url, server.token).json()["AccessToken"]
            with lock:
                tokens.append(token)

    threads = [threading.Thread(target=client) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive()
    assert len(tokens) == 320
    assert len(set(tokens)) == 1
