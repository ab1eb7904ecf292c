"""One GET to the endpoint within a deadline: https through requests, loopback http and the Unix
socket through the standard library's ``http.client``.

https is one more TLS peer: ``http_call.request_within`` (no proxies, no redirects, the CA bundle
setting, a bounded body). Loopback http and the Unix socket share ``http.client`` (RFC 9112): the
socket is an ``HTTPConnection`` whose ``connect()`` opens ``AF_UNIX`` instead of TCP, so both speak
the same HTTP/1.1 with ``Connection: close``. Each socket operation times out at what is left of
the deadline, and a timer shuts the socket down when the deadline passes, so a peer that trickles
its answer a byte at a time cannot hold the caller past it.

Failures to connect or to read the whole answer are ``TransientError`` (exit 5) naming the
variable, with the question a user needs: is ``sf-credproc serve`` running? An answer that is not
HTTP at all is ``ConfigError`` (exit 2): something else listens there.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import __version__
from .errors import ConfigError, CredProcError, TransientError
from .http_call import HttpAnswer

if TYPE_CHECKING:
    import http.client

    from .deadline import Deadline

#: A credential is about 1 KiB (a JWT-format token a few); an error answer less.
MAX_ANSWER_BYTES = 64 * 1024
_CHUNK_BYTES = 16 * 1024
UNREACHABLE_HINT = (
    "Is `sf-credproc serve` (or the `sf-credproc exec --server` that started this program) "
    "running there?"
)


@dataclass(frozen=True)
class Target:
    """Where the request goes: a TCP origin, or a Unix socket (``socket_path``)."""

    scheme: str
    host: str
    port: int
    socket_path: str | None = None
    #: The URL as configured (https: what requests is given).
    url: str = ""


def get(
    target: Target,
    path_and_query: str,
    *,
    token: str,
    where: str,
    deadline: Deadline,
    ca_bundle: str | None,
) -> HttpAnswer:
    """The endpoint's answer to ``GET path_and_query`` with ``Authorization: token``."""
    headers = {
        "Authorization": token,
        "Accept": "application/json",
        "User-Agent": f"sf-credproc/{__version__}",
    }
    if target.scheme == "https":
        return _get_https(target, path_and_query, headers, where, deadline, ca_bundle)
    return _get_plain(target, path_and_query, headers, where, deadline)


def _get_https(
    target: Target,
    path_and_query: str,
    headers: dict[str, str],
    where: str,
    deadline: Deadline,
    ca_bundle: str | None,
) -> HttpAnswer:
    from .http_call import Peer, request_within

    peer = Peer(
        name=f"the endpoint ({where})",
        untrusted_certificate_hint="Point REQUESTS_CA_BUNDLE at the CA that signed the "
        "endpoint's --tls-cert",
        unreachable_hint=UNREACHABLE_HINT,
    )
    query = path_and_query.partition("?")[2]
    return request_within(
        "GET",
        f"{target.url}?{query}",
        peer=peer,
        deadline=deadline,
        headers=headers,
        data=None,
        verify=ca_bundle or True,
        proxies={},
        max_bytes=MAX_ANSWER_BYTES,
    )


def _get_plain(
    target: Target, path_and_query: str, headers: dict[str, str], where: str, deadline: Deadline
) -> HttpAnswer:
    import http.client

    from .unix_http import UnixHTTPConnection

    doing = f"asking the endpoint ({where})"
    timeout = deadline.check(doing)
    connection: http.client.HTTPConnection
    if target.socket_path is not None:
        connection = UnixHTTPConnection(target.socket_path, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    headers = {**headers, "Connection": "close"}
    try:
        connection.connect()
        with _cut_off_at(connection, deadline):
            connection.request("GET", path_and_query, headers=headers)
            response = connection.getresponse()
            body = _read_bounded(response, deadline, doing)
        if deadline.remaining() <= 0:
            raise deadline.exceeded(doing)
        return HttpAnswer(response.status, response.getheader("Content-Type"), body)
    except (http.client.HTTPException, OSError) as error:
        raise _failure(error, where, deadline) from None
    finally:
        connection.close()


def _failure(error: Exception, where: str, deadline: Deadline) -> CredProcError:
    """The error of a request that failed with ``error`` (never chained: nothing of the request
    travels on)."""
    import http.client

    if isinstance(error, TimeoutError) or deadline.remaining() <= 0:
        # A timeout, or the cut at the deadline (the peer then seems to have hung up).
        return TransientError(
            f"the endpoint ({where}) did not answer within the {deadline.timeout_seconds:g} s "
            "deadline",
            hint=f"{UNREACHABLE_HINT} Or raise --timeout",
        )
    if isinstance(error, http.client.IncompleteRead | ConnectionError):  # RemoteDisconnected too
        return TransientError(
            f"the endpoint ({where}) closed the connection before answering in full "
            f"({type(error).__name__})",
            hint=UNREACHABLE_HINT,
        )
    if isinstance(error, http.client.HTTPException):
        return ConfigError(
            f"what answers at {where} does not speak HTTP/1.1 as the endpoint does "
            f"({type(error).__name__})",
            hint="Set it to the address `sf-credproc serve` printed",
        )
    reason = (error.strerror if isinstance(error, OSError) else None) or type(error).__name__
    return TransientError(
        f"could not reach the endpoint ({where}): {reason}", hint=UNREACHABLE_HINT
    )


@contextlib.contextmanager
def _cut_off_at(connection: http.client.HTTPConnection, deadline: Deadline) -> Iterator[None]:
    """Shut the connection's socket down when ``deadline`` passes (a timer thread): a blocked
    read then ends at once, whatever the per-operation timeouts allowed."""
    sock: socket.socket | None = connection.sock

    def shut_down() -> None:
        if sock is not None:
            with contextlib.suppress(OSError):  # closed already
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(deadline.remaining(), shut_down)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _read_bounded(response: http.client.HTTPResponse, deadline: Deadline, doing: str) -> bytes:
    """The body, or its first ``MAX_ANSWER_BYTES + 1`` bytes (enough to know it is too long);
    the deadline is checked between chunks."""
    import http.client

    chunks: list[bytes] = []
    size = 0
    while size <= MAX_ANSWER_BYTES:
        chunk = response.read1(_CHUNK_BYTES)
        if not chunk:
            # read1 ends quietly where read() would raise: a Content-Length not met is a cut.
            if response.length:
                raise http.client.IncompleteRead(b"", response.length)
            break
        chunks.append(chunk)
        size += len(chunk)
        if deadline.remaining() <= 0:
            raise deadline.exceeded(doing)
    return b"".join(chunks)
