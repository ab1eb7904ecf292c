"""The bytes of one HTTP/1.1 answer, built from prebuilt parts (RFC 9110 section 15, RFC 9112
section 4).

Every answer of the endpoint carries ``Cache-Control: no-store`` (RFC 9111 section 5.2.2.5: a
credential must never be kept by a cache between the client and us), a ``Content-Length`` (so a
keep-alive client knows where the answer ends, RFC 9112 section 6.3) and a ``Date`` (RFC 9110
section 6.6.1); never an ``Access-Control-*`` field (no browser page may read it, whatever the
origin). Errors are JSON ``{"code": <exit status>, "kind": ..., "message": ...}``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

JSON_TYPE = b"Content-Type: application/json\r\n"
TEXT_TYPE = b"Content-Type: text/plain; charset=utf-8\r\n"
#: Fields every answer carries, whatever its status.
COMMON_FIELDS = b"Cache-Control: no-store\r\n"
CLOSE_FIELD = b"Connection: close\r\n"

#: ``HTTP/1.1 200 OK\r\n`` for every status we may send, built once.
_STATUS_LINES: dict[int, bytes] = {
    status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode("ascii")
    for status in HTTPStatus
}


@dataclass(frozen=True, slots=True)
class Response:
    """One answer: its status, its fields other than the common ones (each ending in CRLF), its
    body; ``close``: the connection ends after it (an error in the request's framing)."""

    status: int
    fields: bytes
    body: bytes
    close: bool = False


class _DateField:
    """``Date: <IMF-fixdate>\\r\\n``, formatted at most once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._field = b""

    def __call__(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._field = b"Date: " + formatdate(now, usegmt=True).encode("ascii") + b"\r\n"
        return self._field


date_field = _DateField()


def encode(response: Response, *, close: bool, head_only: bool = False) -> bytes:
    """The bytes on the wire for ``response`` (``close``: announce the end of the connection)."""
    body = response.body
    return b"".join(
        (
            _STATUS_LINES[response.status],
            date_field(),
            COMMON_FIELDS,
            response.fields,
            b"Content-Length: %d\r\n" % len(body),
            CLOSE_FIELD if close else b"",
            b"\r\n",
            b"" if head_only else body,
        )
    )


def error_response(
    status: int,
    kind: str,
    message: str,
    *,
    code: int = 2,
    extra_fields: bytes = b"",
    close: bool = False,
) -> Response:
    """The JSON error answer: ``code`` is the exit status the same failure has on the command
    line (2 for a bad request), ``kind`` the error's class name or the request error's name."""
    body = json.dumps({"code": code, "kind": kind, "message": message}).encode("utf-8") + b"\n"
    return Response(status, JSON_TYPE + extra_fields, body, close)


def request_error(status: int, message: str, *, close: bool = False) -> Response:
    """An error in the request itself (exit status 2, like a usage error)."""
    return error_response(
        status, REQUEST_ERROR_KINDS.get(status, "bad_request"), message, close=close
    )


#: The ``kind`` of each request error's JSON.
REQUEST_ERROR_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    421: "misdirected",
    431: "bad_request",
    505: "bad_request",
}
