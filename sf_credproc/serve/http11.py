"""HTTP/1.1 for GET requests on an ``asyncio.Protocol`` (RFC 9112), strict and small.

What it does: persistent connections with pipelining (RFC 9112 section 9.3: answers in the order of
the requests), ``Connection: close`` (section 9.6), HTTP/1.0 closes after one answer, an idle
timeout for kept-alive connections (section 9.5), backpressure from the transport's write buffer.

What it refuses, with an answer and the end of the connection (a request we cannot frame leaves
the rest of the stream unreadable, RFC 9112 section 2.2): a request head over ``MAX_HEAD_BYTES``
or with more than ``MAX_FIELDS`` field lines (431), a request line not of the shape ``method SP
request-target SP HTTP-version`` (400), another HTTP version than 1.x (505), a bare CR or LF, a
field name followed by whitespace or an obsolete line folding (section 5.1, 5.2: 400), an HTTP/1.1
request without exactly one ``Host`` (section 3.2: 400), and any body: ``Transfer-Encoding``, or a
``Content-Length`` other than 0 (400; a GET has no content, and refusing it closes the door to
request smuggling, section 11.2).

Field lines are parsed by the standard library (``http.client.parse_headers``, as
``http.server`` does); this module only frames the head and checks what RFC 9112 requires.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import io
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import Message

from .. import log
from .responses import Response, encode, request_error

#: The request line and the field lines, CRLFs included (the limit ``http.server`` and most
#: servers apply to a line, here to the whole head: a credential request is a few hundred bytes).
MAX_HEAD_BYTES = 8192
MAX_FIELDS = 64
#: Bytes kept unread while an answer is awaited (pipelined requests); beyond, reading pauses.
MAX_BUFFERED_BYTES = 4 * MAX_HEAD_BYTES
#: Distinct request heads whose parse is remembered (a few hundred KiB at most).
HEADS_REMEMBERED = 256

#: RFC 9110 section 5.6.2: ``token = 1*tchar``.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Field lines (RFC 9112 section 5, RFC 9110 section 5.5): a token, the colon right after it (no
#: whitespace before it, section 5.1), a value of visible characters, spaces and tabs (no NUL,
#: no bare CR or LF), CRLF. A line that begins with whitespace (obsolete folding, section 5.2)
#: does not match.
_FIELD_LINES = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*")
#: The names of the fields that bear on framing or on the connection, wherever they may start.
_FRAMING = re.compile(rb"(?:^|\n)(?:transfer-encoding|content-length|connection):", re.IGNORECASE)
#: RFC 9112 section 2.3: ``HTTP-version = HTTP-name "/" DIGIT "." DIGIT``.
_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]")
#: Visible ASCII: what a request-target may be made of (RFC 3986 characters, percent-encoded).
_TARGET = re.compile(rb"[\x21-\x7e]+")


@dataclass(frozen=True, slots=True)
class Request:
    """One request head. ``path`` and ``query`` are the request-target's parts, undecoded
    (``query`` None without ``?``); ``host`` is the ``Host`` field (or the authority of an
    absolute-form target, RFC 9112 section 3.2.2), None when absent (HTTP/1.0)."""

    method: str
    path: str
    query: str | None
    host: str | None
    fields: Message
    keep_alive: bool


#: The application: an answer now, or an awaitable of one (which must not raise).
Handler = Callable[[Request], "Response | Awaitable[Response]"]


class ConnectionSet:
    """The open connections of one server: counted (a cap on file descriptors) and drained."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: set[HttpConnection] = set()
        #: The server is closing: a connection made now is closed at once, as the idle ones are.
        self.stopping = False
        self._empty = asyncio.Event()
        self._empty.set()

    def stop(self) -> None:
        self.stopping = True

    def add(self, connection: HttpConnection) -> bool:
        if len(self.open) >= self.limit:
            return False
        self.open.add(connection)
        self._empty.clear()
        return True

    def discard(self, connection: HttpConnection) -> None:
        self.open.discard(connection)
        if not self.open:
            self._empty.set()

    async def drained(self) -> None:
        await self._empty.wait()


class HttpConnection(asyncio.Protocol):
    """One client connection: frames requests, asks ``handler``, writes the answers in order."""

    def __init__(
        self,
        handler: Handler,
        connections: ConnectionSet,
        idle_seconds: float,
        on_refused: Callable[[int], None] | None = None,
    ) -> None:
        self._handler = handler
        #: Told the status of every request refused before it reached ``handler`` (access log).
        self._on_refused = on_refused
        self._loop = asyncio.get_running_loop()
        self._connections = connections
        self._idle_seconds = idle_seconds
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        #: An answer is awaited (the credential is being obtained): requests behind it wait.
        self._waiting = False
        self._write_paused = False
        self._read_paused = False
        #: No request is taken any more: an answer said ``Connection: close``, or draining.
        self._closing = False
        self._draining = False
        self._eof = False
        self._last_active = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if not self._connections.add(self):
            transport.abort()  # over the cap: no answer, the client may retry later
            self._closing = True
            return
        self._last_active = self._loop.time()
        self._idle_timer = self._loop.call_later(self._idle_seconds, self._check_idle)
        if self._connections.stopping:  # accepted as the server closed (see shutdown.py)
            self.shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._connections.discard(self)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._buffer.clear()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._buffer += data
        self._process()
        if len(self._buffer) > MAX_BUFFERED_BYTES and not self._read_paused and not self._closing:
            self._pause_reading()

    def eof_received(self) -> bool | None:
        # The client will send no more (a half-close): the requests it sent are still answered,
        # then the connection ends.
        self._eof = True
        self._process()
        return True

    def pause_writing(self) -> None:
        self._write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._resume_reading()
        self._process()

    # Draining (SIGTERM): in-flight answers are written, idle connections end now.

    def shutdown(self) -> None:
        self._draining = True
        if not self._waiting:
            self._close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # Framing

    def _process(self) -> None:
        buffer = self._buffer
        while buffer and not (self._waiting or self._write_paused or self._closing):
            # RFC 9112 section 2.2: empty lines before a request line are ignored.
            while buffer[:2] == b"\r\n":
                del buffer[:2]
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self._check_partial_head()
                break
            if end + 4 > MAX_HEAD_BYTES:
                self._refuse(431, f"the request head is larger than {MAX_HEAD_BYTES} bytes")
                return
            head = bytes(buffer[: end + 2])
            del buffer[: end + 4]
            parsed = parse_head(head)
            if isinstance(parsed, Response):
                self._refused(parsed)
                return
            self._dispatch(parsed)
        if self._eof and not (self._waiting or self._write_paused or self._closing):
            self._close()

    def _check_partial_head(self) -> None:
        buffer = self._buffer
        if len(buffer) > MAX_HEAD_BYTES:
            self._refuse(431, f"the request head is larger than {MAX_HEAD_BYTES} bytes")
            return
        newline = buffer.find(b"\n")
        if newline == 0 or (newline > 0 and buffer[newline - 1] != 0x0D):
            self._refuse(400, "lines must end with CRLF")

    def _dispatch(self, request: Request) -> None:
        try:
            answer = self._handler(request)
        except Exception as error:  # noqa: BLE001 - a bug answers 500, never a traceback
            answer = _internal_error(error)
        if isinstance(answer, Response):
            self._send(answer, keep_alive=request.keep_alive)
            return
        self._waiting = True
        future = asyncio.ensure_future(answer)
        future.add_done_callback(lambda done: self._answered(done, request.keep_alive))

    def _answered(self, done: asyncio.Future[Response], keep_alive: bool) -> None:
        self._waiting = False
        if self._transport is None or self._transport.is_closing():
            return
        try:
            answer = done.result()
        except Exception as error:  # noqa: BLE001 - as in _dispatch
            answer = _internal_error(error)
        self._send(answer, keep_alive=keep_alive)
        self._resume_reading()
        self._process()

    def _send(self, response: Response, *, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        close = response.close or not keep_alive or self._draining
        transport.write(encode(response, close=close))
        if close:
            self._close()
        else:
            self._last_active = self._loop.time()

    def _refuse(self, status: int, message: str) -> None:
        self._refused(request_error(status, message, close=True))

    def _refused(self, response: Response) -> None:
        if self._on_refused is not None:
            self._on_refused(response.status)
        self._send(response, keep_alive=False)

    def _close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()  # writes what is buffered first

    def _pause_reading(self) -> None:
        if not self._read_paused and self._transport is not None:
            self._read_paused = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        transport = self._transport
        if transport is None or not self._read_paused or self._write_paused:
            return
        if len(self._buffer) <= MAX_BUFFERED_BYTES:
            self._read_paused = False
            transport.resume_reading()

    def _check_idle(self) -> None:
        """RFC 9112 section 9.5: a server may close an idle connection. A head that does not
        complete within the idle time (a client trickling bytes) counts as idle too."""
        self._idle_timer = None
        if self._closing:
            return
        loop = self._loop
        idle_for = loop.time() - self._last_active
        if self._waiting or idle_for < self._idle_seconds:
            delay = self._idle_seconds - idle_for if not self._waiting else self._idle_seconds
            self._idle_timer = loop.call_later(max(delay, 0.05), self._check_idle)
            return
        self._close()


@functools.lru_cache(maxsize=HEADS_REMEMBERED)
def parse_head(head: bytes) -> Request | Response:
    """The request in ``head`` (the request line and field lines, each ending in CRLF), or the
    error answer for it.

    A pure function of the bytes, remembered for the last ``HEADS_REMEMBERED`` heads: a kept-alive
    client sends the same head again and again, and parsing it once is enough (the ``Request``
    is immutable, its fields only read).
    """
    line_end = head.find(b"\r\n")
    parts = head[:line_end].split(b" ")
    if len(parts) != 3:
        return request_error(400, "malformed request line", close=True)
    method_bytes, target, version = parts
    if version == b"HTTP/1.1":
        keep_alive = True
    elif version == b"HTTP/1.0":
        keep_alive = False
    elif _VERSION.fullmatch(version):
        return request_error(505, "only HTTP/1.1 and HTTP/1.0 are served", close=True)
    else:
        return request_error(400, "malformed request line", close=True)
    if not _TOKEN.fullmatch(method_bytes) or not _TARGET.fullmatch(target):
        return request_error(400, "malformed request line", close=True)
    field_lines = head[line_end + 2 :]
    if field_lines.count(b"\n") > MAX_FIELDS:
        return request_error(431, f"more than {MAX_FIELDS} header fields", close=True)
    if not _FIELD_LINES.fullmatch(field_lines):
        return request_error(400, "malformed header field", close=True)
    try:
        fields = http.client.parse_headers(io.BytesIO(field_lines))
    except http.client.HTTPException:
        return request_error(431, f"more than {MAX_FIELDS} header fields", close=True)
    if fields.defects:
        return request_error(400, "malformed header field", close=True)
    # Fields that change the framing or the connection are looked up only when present.
    framing = _FRAMING.search(field_lines) is not None
    return _request(
        method_bytes.decode("ascii"), target.decode("ascii"), fields, keep_alive, framing
    )


def _request(
    method: str, target: str, fields: Message, keep_alive: bool, framing: bool
) -> Request | Response:
    hosts = fields.get_all("Host") or []
    if len(hosts) > 1 or (keep_alive and not hosts):
        # keep_alive is True exactly for HTTP/1.1 here, which requires one Host.
        return request_error(400, "an HTTP/1.1 request needs exactly one Host field", close=True)
    host: str | None = hosts[0].strip() if hosts else None
    if framing:
        if fields.get("Transfer-Encoding") is not None:
            return request_error(400, "request content is not accepted", close=True)
        lengths = fields.get_all("Content-Length") or []
        if any(length.strip() != "0" for length in lengths):
            return request_error(400, "request content is not accepted", close=True)
        if keep_alive:
            connection = ",".join(fields.get_all("Connection") or ()).lower()
            if "close" in (token.strip() for token in connection.split(",")):
                keep_alive = False
    if target.startswith("/"):
        path, mark, query = target.partition("?")
        return Request(method, path, query if mark else None, host, fields, keep_alive)
    lowered = target.lower()
    if lowered.startswith(("http://", "https://")):
        # Absolute form (RFC 9112 section 3.2.2): its authority replaces the Host field.
        rest = target.split("://", 1)[1]
        slash = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        authority, origin = rest[:slash], rest[slash:] or "/"
        if not authority or "@" in authority:
            return request_error(400, "malformed request target", close=True)
        if origin.startswith("?"):
            origin = "/" + origin
        path, mark, query = origin.partition("?")
        return Request(method, path, query if mark else None, authority, fields, keep_alive)
    if target == "*" and method == "OPTIONS":
        return Request(method, "*", None, host, fields, keep_alive)
    return request_error(400, "malformed request target", close=True)


def _internal_error(error: Exception) -> Response:
    from .responses import error_response

    log.warning(
        "serve", f"internal error answering a request ({type(error).__name__}); this is a bug"
    )
    return error_response(500, "InternalError", "internal error; this is a bug", code=1, close=True)
