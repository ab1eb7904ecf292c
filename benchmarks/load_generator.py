"""A closed-loop HTTP/1.1 load generator: N keep-alive connections in one asyncio process.

Each connection sends one ``GET`` (with ``Host`` and ``Authorization``), waits for the whole
response (RFC 9112 section 6.3: the body's length from ``Content-Length``), checks it, records the
latency and sends the next request on the same connection, until a time or a request count is
reached. It is written on ``asyncio.Protocol`` (callbacks, no stream objects or tasks per request)
so that the generator costs less per request than the server it drives; ``minimal-server`` below
is the yardstick that shows its ceiling on a machine.

Every response is checked: the status must be 200 and the body must carry the same access token as
the first one seen (a body that differs byte for byte is parsed and its token compared; any other
answer, a closed connection or a malformed response ends the run with an error).

Standalone use (a server already listening)::

    python benchmarks/load_generator.py drive http://127.0.0.1:PORT/credential --token-env VAR
    python benchmarks/load_generator.py minimal-server     # prints its port; Ctrl-C stops it
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

HEAD_END = b"\r\n\r\n"
#: Reads the access token out of a response body; raises ValueError/KeyError/TypeError if none.
TokenReader = Callable[[bytes], str]
MAX_HEAD = 16 * 1024


class LoadError(Exception):
    """A response that is not the credential: the figures of such a run mean nothing."""


@dataclass
class Result:
    """One measured run: every latency in seconds, and the wall time it took."""

    requests: int
    seconds: float
    latencies: list[float] = field(repr=False)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile_ms(self, fraction: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(fraction * len(ordered)))
        return ordered[rank - 1] * 1000

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(0.99)

    @property
    def max_ms(self) -> float:
        return max(self.latencies) * 1000


class _Plan:
    """When a run stops (a deadline or a request budget) and what it has seen so far."""

    def __init__(self, connections: int, *, until: float | None, budget: int | None) -> None:
        self.until = until
        self.budget = budget
        self.sent = 0
        self.latencies: list[float] = []
        self.running = connections
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def another(self, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        if self.budget is not None and self.sent >= self.budget:
            return False
        self.sent += 1
        return True

    def idle(self) -> None:
        self.running -= 1
        if self.running == 0 and not self.finished.done():
            self.finished.set_result(None)

    def fail(self, error: Exception) -> None:
        if not self.finished.done():
            self.finished.set_exception(error)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a request, its response, the next request."""

    def __init__(
        self, request: bytes, checker: _BodyChecker, numbers: Iterator[int] | None = None
    ) -> None:
        self.request = request
        self.checker = checker
        #: With numbers, every request carries another ``X-Request-Id``: no two heads alike.
        self.numbers = numbers
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.body_length = -1  # -1: still reading the head
        self.sent_at = 0.0
        self.plan: _Plan | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def start(self, plan: _Plan) -> None:
        self.plan = plan
        self._next()

    def _next(self) -> None:
        assert self.plan is not None
        assert self.transport is not None
        now = time.perf_counter()
        if self.plan.another(now):
            self.sent_at = now
            if self.numbers is None:
                self.transport.write(self.request)
            else:
                # The request ends in a blank line: the numbered field goes just before it.
                field = b"X-Request-Id: %d\r\n\r\n" % next(self.numbers)
                self.transport.write(self.request[:-2] + field)
        else:
            plan, self.plan = self.plan, None
            plan.idle()

    def data_received(self, data: bytes) -> None:
        if self.plan is None:
            self._fail(LoadError("a response nobody asked for"))
            return
        self.buffer += data
        if self.body_length < 0:
            end = self.buffer.find(HEAD_END)
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self._fail(LoadError("a response head over 16 KiB"))
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            if head[9:12] != b"200":
                self._fail(LoadError(f"answered {head[:40]!r}, not 200"))
                return
            lowered = head.lower()
            at = lowered.find(b"\r\ncontent-length:")
            if at < 0:
                self._fail(LoadError("a response without Content-Length"))
                return
            line_end = lowered.find(b"\r\n", at + 2)
            self.body_length = int(lowered[at + 17 : line_end if line_end > 0 else None])
        if len(self.buffer) < self.body_length:
            return
        if len(self.buffer) > self.body_length:
            self._fail(LoadError("bytes after the response (one request is outstanding)"))
            return
        body, self.buffer, self.body_length = self.buffer, b"", -1
        try:
            self.checker.check(body)
        except LoadError as error:
            self._fail(error)
            return
        self.plan.latencies.append(time.perf_counter() - self.sent_at)
        self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.plan is not None:
            self._fail(LoadError(f"the server closed a connection mid-run ({exc or 'EOF'})"))

    def _fail(self, error: LoadError) -> None:
        plan, self.plan = self.plan, None
        if plan is not None:
            plan.fail(error)
        if self.transport is not None:
            self.transport.abort()


class _BodyChecker:
    """Same token in every body: byte equality with the first body, else parse and compare."""

    def __init__(self, token_of: TokenReader) -> None:
        self.token_of = token_of
        self.first: bytes | None = None
        self.token: str | None = None
        self.tokens: set[str] = set()

    def check(self, body: bytes) -> None:
        if body == self.first:
            return
        try:
            token = self.token_of(body)
        except (ValueError, KeyError, TypeError) as error:
            raise LoadError(f"a body without a token ({type(error).__name__})") from None
        if self.first is None:
            self.first, self.token = body, token
        elif token != self.token:
            raise LoadError("a body with another access token than the first")
        self.tokens.add(token)


def json_token(body: bytes) -> str:
    """The access token of a credential JSON body (``"AccessToken"``)."""
    token = json.loads(body)["AccessToken"]
    if not isinstance(token, str) or not token:
        raise ValueError("AccessToken is not a non-empty string")
    return token


class LoadGenerator:
    """``connections`` keep-alive connections to one URL, opened once and driven run after run."""

    def __init__(
        self, url: str, token: str, connections: int, *, distinct_heads: bool = False
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError("an http://HOST:PORT/... URL is needed")
        self.host, self.port = parts.hostname, parts.port
        host_header = f"[{self.host}]" if ":" in self.host else self.host
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.request = (
            f"GET {target} HTTP/1.1\r\nHost: {host_header}:{self.port}\r\n"
            f"Authorization: {token}\r\n\r\n"
        ).encode()
        self.count = connections
        self.numbers = itertools.count() if distinct_heads else None
        self.checker = _BodyChecker(json_token)
        self.connections: list[_Connection] = []

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(self.count):
            _, protocol = await loop.create_connection(
                lambda: _Connection(self.request, self.checker, self.numbers),
                self.host,
                self.port,
            )
            self.connections.append(protocol)

    async def run(self, *, seconds: float | None = None, requests: int | None = None) -> Result:
        """Drive every connection until ``seconds`` pass or ``requests`` have been sent."""
        started = time.perf_counter()
        until = started + seconds if seconds is not None else None
        plan = _Plan(len(self.connections), until=until, budget=requests)
        for connection in self.connections:
            connection.start(plan)
        await plan.finished
        return Result(plan.sent, time.perf_counter() - started, plan.latencies)

    def close(self) -> None:
        for connection in self.connections:
            if connection.transport is not None:
                connection.transport.close()

    @property
    def token(self) -> str | None:
        return self.checker.token


async def _drive(url: str, token: str, connections: int, warmup: float, seconds: float) -> None:
    generator = LoadGenerator(url, token, connections)
    await generator.open()
    try:
        await generator.run(seconds=warmup)
        result = await generator.run(seconds=seconds)
    finally:
        generator.close()
    print(
        f"{result.per_second:,.0f} req/s  p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms"
        f"  max {result.max_ms:.2f} ms  ({result.requests:,} requests, {connections} connections)"
    )


# -- the yardstick: the least an asyncio server can do for the same request ---------------------

MINIMAL_BODY = json.dumps(
    {
        "Version": 1,
        "AccessToken": "00D000000000001!" + "x" * 96,
        "InstanceUrl": "https://acme.my.salesforce.com",
        "Expiration": "2030-01-01T00:00:00Z",
    }
).encode()
MINIMAL_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(MINIMAL_BODY), MINIMAL_BODY)
)


class _MinimalServer(asyncio.Protocol):
    """Answers every request head with one prebuilt response: no parsing, no checks, no log."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(HEAD_END)) >= 0:
            self.buffer = self.buffer[end + 4 :]
            self.transport.write(MINIMAL_RESPONSE)


async def _minimal_server() -> None:
    server = await asyncio.get_running_loop().create_server(_MinimalServer, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    drive = commands.add_parser("drive", help="drive a server already listening")
    drive.add_argument("url")
    drive.add_argument("--token-env", default="SF_CREDPROC_SERVER_TOKEN")
    drive.add_argument("--clients", type=int, default=64)
    drive.add_argument("--warmup", type=float, default=1.0)
    drive.add_argument("--seconds", type=float, default=5.0)
    commands.add_parser("minimal-server", help="the yardstick server; prints its port")
    options = parser.parse_args()
    try:
        if options.command == "minimal-server":
            asyncio.run(_minimal_server())
        else:
            token = os.environ.get(options.token_env, "")
            asyncio.run(
                _drive(options.url, token, options.clients, options.warmup, options.seconds)
            )
    except KeyboardInterrupt:
        sys.exit(130)
    except (LoadError, OSError, ValueError) as error:
        sys.exit(f"load_generator: {error}")


if __name__ == "__main__":
    main()
