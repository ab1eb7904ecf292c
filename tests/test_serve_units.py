"""The endpoint's parts on their own: HTTP/1.1 framing and limits (RFC 9112), ``--listen`` and
``--socket`` rules, the server token's resolution, the error statuses, the child's exit status."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from clocks import ManualClock

from sf_credproc.cache.refresh import RefreshWindows
from sf_credproc.credential import Credential
from sf_credproc.errors import (
    ConfigError,
    CoolingDown,
    InternalError,
    KeySourceError,
    LoginRateExceeded,
    SalesforceRefusedError,
    SessionInvalidError,
    TransientError,
)
from sf_credproc.keeper import CredentialKeeper, token_sha256
from sf_credproc.serve.child import exit_status_of
from sf_credproc.serve.endpoint import CredentialEndpoint, failure_response, status_of
from sf_credproc.serve.http11 import (
    MAX_HEAD_BYTES,
    ConnectionSet,
    HttpConnection,
    Request,
    parse_head,
)
from sf_credproc.serve.responses import Response

HEAD = b"GET /credential HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: t\r\n"


def parsed(head: bytes) -> Request:
    request = parse_head(head)
    assert isinstance(request, Request), request
    return request


def refused(head: bytes) -> int:
    answer = parse_head(head)
    assert isinstance(answer, Response), answer
    assert answer.close, "a request that cannot be framed ends the connection"
    return answer.status


# HTTP/1.1 framing (RFC 9112)


def test_a_request_head_is_parsed() -> None:
    request = parsed(b"GET /credential?format=token HTTP/1.1\r\nHost: localhost:1\r\nX-A: b\r\n")
    assert (request.method, request.path, request.query) == ("GET", "/credential", "format=token")
    assert request.host == "localhost:1"
    assert request.keep_alive
    assert request.fields["x-a"] == "b"


@pytest.mark.parametrize(
    ("connection", "keep_alive"),
    [("close", False), ("keep-alive, Close", False), ("keep-alive", True), ("closed", True)],
)
def test_connection_close_ends_the_connection(connection: str, keep_alive: bool) -> None:
    head = HEAD + f"Connection: {connection}\r\n".encode()
    assert parsed(head).keep_alive is keep_alive


def test_http_1_0_closes_and_needs_no_host() -> None:
    request = parsed(b"GET /healthz HTTP/1.0\r\n")
    assert not request.keep_alive
    assert request.host is None
    assert not parsed(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n").keep_alive


@pytest.mark.parametrize(
    "line",
    [
        b"GET /credential",
        b"GET  /credential HTTP/1.1",
        b"GET /credential HTTP/1.1 ",
        b"GET /cred ential HTTP/1.1",
        b"G(T /credential HTTP/1.1",
        b"GET /credential HTTP/1.x",
        b"GET /credential http/1.1",
        b"GET credential HTTP/1.1",
        b"GET /cr\x7fedential HTTP/1.1",
        b"GET http://user@127.0.0.1:1/credential HTTP/1.1",
    ],
)
def test_a_malformed_request_line_is_400(line: bytes) -> None:
    assert refused(line + b"\r\nHost: 127.0.0.1:1\r\n") == 400


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.2"])
def test_another_http_version_is_505(version: bytes) -> None:
    assert refused(b"GET / " + version + b"\r\nHost: h\r\n") == 505


@pytest.mark.parametrize(
    "fields",
    [
        b"Host : 127.0.0.1:1\r\n",  # whitespace before the colon (RFC 9112 section 5.1)
        b"Host: 127.0.0.1:1\r\n folded\r\n",  # obsolete line folding (section 5.2)
        b"Host: 127.0.0.1:1\r\nX: a\x00b\r\n",  # NUL in a value (RFC 9110 section 5.5)
        b"Host: 127.0.0.1:1\r\nX: a\rb\r\n",  # a bare CR
        b"Host: 127.0.0.1:1\r\nX: a\nY: b\r\n",  # a bare LF
        b"Host: 127.0.0.1:1\r\nno colon\r\n",
        b"Host: 127.0.0.1:1\r\nX(: y\r\n",
    ],
)
def test_a_malformed_field_is_400(fields: bytes) -> None:
    assert refused(b"GET /credential HTTP/1.1\r\n" + fields) == 400


@pytest.mark.parametrize(
    "fields",
    [b"", b"Host: a\r\nHost: b\r\n", b"X: y\r\n"],
)
def test_http_1_1_needs_exactly_one_host(fields: bytes) -> None:
    assert refused(b"GET /credential HTTP/1.1\r\n" + fields) == 400


@pytest.mark.parametrize(
    "field",
    [
        b"Content-Length: 5",
        b"Transfer-Encoding: chunked",
        b"content-length: 0\r\nContent-Length: 1",
    ],
)
def test_a_request_with_content_is_refused(field: bytes) -> None:
    assert refused(HEAD + field + b"\r\n") == 400


def test_content_length_zero_is_no_content() -> None:
    assert parsed(HEAD + b"Content-Length: 0\r\n").keep_alive


def test_more_than_64_fields_is_431() -> None:
    many = b"".join(b"X-%d: v\r\n" % number for number in range(64))
    assert refused(HEAD + many) == 431
    assert parsed(b"GET / HTTP/1.1\r\nHost: h\r\n" + many[: -len(b"X-63: v\r\n")])


def test_the_absolute_form_names_the_host() -> None:
    request = parsed(b"GET http://127.0.0.1:9/credential?format=sf HTTP/1.1\r\nHost: evil\r\n")
    assert (request.host, request.path, request.query) == (
        "127.0.0.1:9",
        "/credential",
        "format=sf",
    )


class FakeTransport(asyncio.Transport):
    """What a connection writes, and whether it closed it."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = asyncio.Event()
        self.reading = True

    def write(self, data: Any) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed.is_set()

    def close(self) -> None:
        self.closed.set()

    def abort(self) -> None:
        self.closed.set()

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def statuses(self) -> list[int]:
        return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", self.written)]


def echo(request: Request) -> Response:
    return Response(200, b"", request.path.encode())


def connect(
    handler: Any = echo, idle_seconds: float = 30.0
) -> tuple[HttpConnection, FakeTransport]:
    connection = HttpConnection(handler, ConnectionSet(10), idle_seconds)
    transport = FakeTransport()
    connection.connection_made(transport)
    return connection, transport


def test_pipelined_requests_are_answered_in_order() -> None:
    async def scenario() -> FakeTransport:
        pending: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

        def handler(request: Request) -> Response | asyncio.Future[Response]:
            return pending if request.path == "/slow" else echo(request)

        connection, transport = connect(handler)
        slow = b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n"
        fast = b"GET /fast HTTP/1.1\r\nHost: h\r\n\r\n"
        connection.data_received(b"\r\n" + slow + fast[:10])
        connection.data_received(fast[10:])
        assert transport.written == b"", "the second answer waits for the first"
        pending.set_result(Response(200, b"", b"/slow"))
        await asyncio.sleep(0)
        return transport

    transport = asyncio.run(scenario())
    assert transport.written.index(b"/slow") < transport.written.index(b"/fast")
    assert transport.statuses() == [200, 200]
    assert not transport.closed.is_set()


def test_every_answer_has_the_contract_fields() -> None:
    async def scenario() -> bytes:
        connection, transport = connect()
        connection.data_received(b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        assert transport.closed.is_set()
        return bytes(transport.written)

    head = asyncio.run(scenario()).split(b"\r\n\r\n")[0].lower()
    assert b"cache-control: no-store" in head
    assert b"content-length: 2" in head
    assert b"connection: close" in head
    assert b"access-control" not in head


def test_a_head_over_the_limit_is_431_and_closed() -> None:
    async def scenario() -> FakeTransport:
        connection, transport = connect()
        connection.data_received(b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD_BYTES)
        return transport

    transport = asyncio.run(scenario())
    assert transport.statuses() == [431]
    assert transport.closed.is_set()


def test_a_bare_lf_request_line_is_refused_at_once() -> None:
    async def scenario() -> FakeTransport:
        connection, transport = connect()
        connection.data_received(b"GET / HTTP/1.1\nHost: h\n")
        return transport

    transport = asyncio.run(scenario())
    assert transport.statuses() == [400]
    assert transport.closed.is_set()


def test_a_handler_that_raises_answers_500_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken(request: Request) -> Response:
        raise RuntimeError("boom")

    async def scenario() -> FakeTransport:
        connection, transport = connect(broken)
        connection.data_received(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        return transport

    transport = asyncio.run(scenario())
    assert transport.statuses() == [500]
    assert "Traceback" not in capsys.readouterr().err


def test_an_idle_connection_is_closed() -> None:
    async def scenario() -> FakeTransport:
        connection, transport = connect(idle_seconds=0.05)
        connection.data_received(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HT")  # then silence
        await asyncio.wait_for(transport.closed.wait(), 10)
        return transport

    assert asyncio.run(scenario()).statuses() == [200]


def test_a_half_closed_connection_gets_its_answers_then_ends() -> None:
    async def scenario() -> FakeTransport:
        connection, transport = connect()
        connection.data_received(
            b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"
        )
        connection.eof_received()
        return transport

    transport = asyncio.run(scenario())
    assert transport.statuses() == [200, 200]
    assert transport.closed.is_set()


# The application: query parameters, errors


def credential(token: str = "00Dunit!token") -> Credential:  # noqa: S107 - a fake token
    return Credential(
        access_token=token,
        token_type="Bearer",
        instance_url="https://acme.my.salesforce.com",
        id_url="https://login.salesforce.com/id/00D000000000001AAA/005000000000001AAA",
        org_id="00D000000000001AAA",
        username="unit@acme.example",
        scope="api",
        issued_at=1_000,
        expiration=8_200,
    )


@pytest.fixture
def app() -> Iterator[CredentialEndpoint]:
    keeper = CredentialKeeper(
        lambda rejected, current: credential(), RefreshWindows(600, 300, 7200), ManualClock()
    )
    keeper.obtain()
    with ThreadPoolExecutor(1) as executor:
        yield CredentialEndpoint(
            keeper,
            server_token="unit-server-token",
            allowed_hosts=frozenset({"127.0.0.1:1"}),
            default_format="json",
            executor=executor,
            access_log=None,
        )


SERVER_TOKEN = "unit-server-token"


def answer_of(app: CredentialEndpoint, target: str, token: str = SERVER_TOKEN) -> Response:
    head = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:1\r\nAuthorization: {token}\r\n".encode()
    answer = app.handle(parsed(head))
    assert isinstance(answer, Response)
    return answer


@pytest.mark.parametrize(
    "query",
    [
        "?format=github",
        "?format=json&format=json",
        "?other=1",
        "?rejected_sha256=abc",
        "?rejected_sha256=" + "g" * 64,
        "?format",
        "?format=json&rejected_sha256=" + "a" * 64 + "&x=1",
    ],
)
def test_a_bad_query_is_400(app: CredentialEndpoint, query: str) -> None:
    assert answer_of(app, "/credential" + query).status == 400


def test_formats_and_their_content_types(app: CredentialEndpoint) -> None:
    assert answer_of(app, "/credential").fields == b"Content-Type: application/json\r\n"
    token = answer_of(app, "/credential?format=token")
    assert token.body == b"00Dunit!token\n"
    assert b"text/plain" in token.fields
    assert b"application/json" in answer_of(app, "/credential?format=sf").fields


def test_a_rejected_digest_of_another_token_is_answered_at_once(app: CredentialEndpoint) -> None:
    other = token_sha256("another").upper()
    assert answer_of(app, f"/credential?rejected_sha256={other}").status == 200


def test_the_rejected_digest_of_the_token_held_waits_for_a_refresh(app: CredentialEndpoint) -> None:
    head = b"GET /credential?rejected_sha256=%s HTTP/1.1\r\nHost: 127.0.0.1:1\r\nAuthorization: unit-server-token\r\n"

    async def scenario() -> Response | asyncio.Future[Response]:
        answer = app.handle(parsed(head % token_sha256("00Dunit!token").encode()))
        if isinstance(answer, asyncio.Future):
            await answer
        return answer

    assert isinstance(asyncio.run(scenario()), asyncio.Future)


@pytest.mark.parametrize(
    "token", ["unit-server-toke", "unit-server-tokenX", "Bearer unit-server-token", ""]
)
def test_a_wrong_token_is_401(app: CredentialEndpoint, token: str) -> None:
    answer = answer_of(app, "/credential", token)
    assert answer.status == 401
    assert b"unit" not in answer.body


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ConfigError("c"), 500, 2),
        (InternalError("i"), 500, 1),
        (KeySourceError("k"), 502, 3),
        (SalesforceRefusedError("s"), 502, 4),
        (SessionInvalidError("s"), 502, 4),
        (TransientError("t"), 503, 5),
        (LoginRateExceeded("l"), 503, 5),
    ],
)
def test_failures_map_to_statuses(error: Any, status: int, code: int) -> None:
    assert status_of(error) == status
    answer = failure_response(error)
    assert answer.status == status
    assert f'"code": {code}'.encode() in answer.body
    assert type(error).__name__.encode() in answer.body
    assert (b"Retry-After:" in answer.fields) is (status == 503)


def test_a_cool_down_says_when_to_retry() -> None:
    answer = failure_response(CoolingDown("cooling down", seconds_left=41.2))
    assert b"Retry-After: 42\r\n" in answer.fields


@pytest.mark.parametrize(("returncode", "status"), [(0, 0), (3, 3), (-15, 143), (-9, 137)])
def test_the_childs_status_is_reported_as_a_shell_does(returncode: int, status: int) -> None:
    assert exit_status_of(returncode) == status


def test_a_failed_obtain_answers_for_a_while_then_is_tried_again() -> None:
    attempts: list[int] = []
    now = [0.0]

    def down(rejected: str | None, current: Credential | None) -> Credential:
        attempts.append(1)
        raise TransientError("Salesforce answered 503")

    keeper = CredentialKeeper(down, RefreshWindows(600, 300, 7200), ManualClock())
    head = b"GET /credential HTTP/1.1\r\nHost: 127.0.0.1:1\r\nAuthorization: unit-server-token\r\n"

    async def scenario() -> list[Response]:
        with ThreadPoolExecutor(1) as executor:
            app = CredentialEndpoint(
                keeper,
                server_token=SERVER_TOKEN,
                allowed_hosts=None,
                default_format="json",
                executor=executor,
                access_log=None,
                monotonic=lambda: now[0],
            )
            first = app.handle(parsed(head))
            assert isinstance(first, asyncio.Future)
            answers = [await first]
            remembered = app.handle(parsed(head))
            assert isinstance(remembered, Response), "answered without another attempt"
            answers.append(remembered)
            now[0] += 60
            again = app.handle(parsed(head))
            assert isinstance(again, asyncio.Future), "tried again once the memory ends"
            answers.append(await again)
            return answers

    answers = asyncio.run(scenario())
    assert [answer.status for answer in answers] == [503, 503, 503]
    assert len(attempts) == 2
    assert b"Retry-After: 2\r\n" in answers[1].fields


def test_a_request_refused_before_the_application_is_logged() -> None:
    statuses: list[int] = []

    async def scenario() -> FakeTransport:
        connection = HttpConnection(echo, ConnectionSet(10), 30.0, statuses.append)
        transport = FakeTransport()
        connection.connection_made(transport)
        connection.data_received(b"NOT HTTP AT ALL\r\n\r\n")
        return transport

    assert asyncio.run(scenario()).statuses() == [400]
    assert statuses == [400]
