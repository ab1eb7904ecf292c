"""A client of a running endpoint (``sf-credproc serve``, ``exec --server``): where it is, what
token it wants, and one request for the credential.

The AWS container-credentials contract is the model. Two variables name the endpoint: the full
``/credential`` URL (``SF_CREDPROC_SERVER_URL``) or a Unix socket's path
(``SF_CREDPROC_SERVER_SOCKET``); the raw ``Authorization`` value is ``SF_CREDPROC_SERVER_TOKEN``,
else the contents of the file ``SF_CREDPROC_SERVER_TOKEN_FILE`` names (as
``AWS_CONTAINER_AUTHORIZATION_TOKEN`` and its ``_FILE``). Like the AWS SDKs, a URL is accepted for a
loopback host over plain http and for any host over https only: anything else would send the server
token, and bring back an access token, in clear across a network. The URL is read by urllib3's
parser, the one ``auth.request_origin`` reads a request's origin with, and the connection goes to
exactly the host and port that reading found.

Transport (``server_transport.py``): https goes through requests with the CA bundle setting
(``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``), as every other TLS peer does; loopback http and the
Unix socket go through the standard library's ``http.client`` (one code path for both, the socket
being a small ``HTTPConnection`` subclass; no proxy can be involved, and ``get`` through a local
endpoint does not pay for importing requests).

The server token is a capability: it is never in an error, a log line or a ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .config.serve_options import (
    SERVER_SOCKET_ENV,
    SERVER_TOKEN_ENV,
    SERVER_TOKEN_FILE_ENV,
    SERVER_URL_ENV,
)
from .config.settings import ca_bundle_of
from .credential import Credential
from .deadline import Deadline
from .errors import ConfigError
from .server_answer import credential_from_answer, printable
from .server_transport import Target, get

#: The one path of the credential (the endpoint's contract).
CREDENTIAL_PATH = "/credential"
#: Longer than any URL ``serve`` prints; refused beyond, before anything is parsed.
MAX_URL_LENGTH = 2048
#: A server token file holds one token: ``secrets.token_urlsafe(32)`` is 43 characters.
MAX_TOKEN_BYTES = 4096
#: ``sockaddr_un.sun_path`` is 108 bytes on Linux, the terminating NUL included.
MAX_SOCKET_PATH_BYTES = 107
_DEFAULT_PORTS = {"http": 80, "https": 443}
_URL_HINT = (
    f"Set {SERVER_URL_ENV} to the URL `sf-credproc serve` printed, such as "
    "http://127.0.0.1:8080/credential (https for any other host)"
)


@dataclass(frozen=True)
class ServerEndpoint:
    """A running endpoint and the token it wants; ``repr()`` never shows the token."""

    target: Target
    #: How messages name the endpoint: the variable and its value.
    where: str
    token: str = field(repr=False)
    #: The CA bundle https is verified with (None: the system's).
    ca_bundle: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> ServerEndpoint | None:
        """The endpoint the variables name, or None when neither ``SF_CREDPROC_SERVER_URL`` nor
        ``SF_CREDPROC_SERVER_SOCKET`` is set. ``ConfigError`` (exit 2, naming the variable) for a
        URL or path that cannot be used, or no token; nothing is connected to."""
        url = environ.get(SERVER_URL_ENV) or None
        socket_path = environ.get(SERVER_SOCKET_ENV) or None
        if url is None and socket_path is None:
            return None
        if url is not None and socket_path is not None:
            raise ConfigError(
                f"both {SERVER_URL_ENV} and {SERVER_SOCKET_ENV} are set: which endpoint is meant "
                "is not clear",
                hint="Unset one of them",
            )
        if url is not None:
            target = parse_server_url(url)
            where = f"{SERVER_URL_ENV}={url}"
        else:
            assert socket_path is not None
            target = _socket_target(socket_path)
            where = f"{SERVER_SOCKET_ENV}={printable(socket_path)}"
        ca_bundle = ca_bundle_of(environ) if target.scheme == "https" else None
        return cls(target, where, read_server_token(environ), ca_bundle)

    def fetch(self, *, rejected_sha256: str | None = None, deadline: Deadline) -> Credential:
        """The credential the endpoint serves (``?format=json``), one GET within ``deadline``;
        with ``rejected_sha256``, compare and refresh (the endpoint logs in when that is the token
        it holds). Raises the exception of the exit status an error answer carries, and
        ``TransientError`` when the endpoint cannot be reached in time."""
        query = "format=json"
        if rejected_sha256 is not None:
            query += f"&rejected_sha256={rejected_sha256}"
        answer = get(
            self.target,
            f"{CREDENTIAL_PATH}?{query}",
            token=self.token,
            where=self.where,
            deadline=deadline,
            ca_bundle=self.ca_bundle,
        )
        return credential_from_answer(answer, where=self.where, secret=self.token)


def parse_server_url(url: str) -> Target:
    """The target of ``SF_CREDPROC_SERVER_URL``; ``ConfigError`` naming the variable for a URL
    whose host is not loopback over http, which carries userinfo, or whose path is not
    ``/credential``."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    from .config.host_names import canonical_host, is_loopback_host

    if len(url) > MAX_URL_LENGTH or not url.isascii() or not url.isprintable():
        raise _bad_url(f"is not a URL (printable ASCII, at most {MAX_URL_LENGTH} characters)")
    if "@" in url:
        # Never echoed: userinfo is where people put passwords. No other part may hold an "@":
        # the path is /credential and there is no query.
        raise _bad_url("carries a user name or password (user@host)")
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise _bad_url(f"{url!r} is not a URL") from None
    scheme = (parsed.scheme or "").lower()
    if scheme not in _DEFAULT_PORTS:
        raise _bad_url(f"{url!r} is neither http:// (loopback) nor https://")
    if parsed.auth is not None:  # refused above already; urllib3 is the judge of what it reads
        raise _bad_url("carries a user name or password (user@host)")
    try:
        host = canonical_host(parsed.host or "")
    except ValueError as error:
        raise _bad_url(f"{url!r}: its host {error}") from None
    if scheme == "http" and not is_loopback_host(host):
        raise ConfigError(
            f"{SERVER_URL_ENV}={url} is plain http to {host}, which is not loopback: the server "
            "token and the access token would cross the network in clear",
            hint="Use https for an endpoint on another host (serve --tls-cert/--tls-key), or "
            "http://127.0.0.1:PORT/credential on this one",
        )
    if parsed.path != CREDENTIAL_PATH or parsed.query is not None or parsed.fragment is not None:
        raise _bad_url(f"{url!r} does not end in the path {CREDENTIAL_PATH} (no query)")
    port = parsed.port or _DEFAULT_PORTS[scheme]
    return Target(scheme, host, port, url=url)


def _bad_url(problem: str) -> ConfigError:
    return ConfigError(f"{SERVER_URL_ENV} {problem}", hint=_URL_HINT)


def _socket_target(path: str) -> Target:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH_BYTES or "\0" in path:
        raise ConfigError(
            f"{SERVER_SOCKET_ENV} is not a usable socket path (at most {MAX_SOCKET_PATH_BYTES} "
            "bytes, no NUL)",
            hint="Set it to the path `sf-credproc serve --socket` printed after unix:",
        )
    return Target("http", "localhost", 0, socket_path=os.path.abspath(path))


def read_server_token(environ: Mapping[str, str]) -> str:
    """``SF_CREDPROC_SERVER_TOKEN``, else the contents of ``SF_CREDPROC_SERVER_TOKEN_FILE``
    (a regular file, bounded, surrounding white space stripped); ``ConfigError`` naming both
    variables when neither gives a token. The token itself is never part of a message."""
    value = environ.get(SERVER_TOKEN_ENV)
    origin = SERVER_TOKEN_ENV
    if not value:
        path = environ.get(SERVER_TOKEN_FILE_ENV)
        if not path:
            raise ConfigError(
                f"the endpoint needs its token: neither {SERVER_TOKEN_ENV} nor "
                f"{SERVER_TOKEN_FILE_ENV} is set",
                hint=f"Set {SERVER_TOKEN_ENV} to the server's token, or {SERVER_TOKEN_FILE_ENV} "
                "to the file that holds it (the path `sf-credproc serve` logged)",
            )
        value = _read_token_file(path)
        origin = f"{SERVER_TOKEN_FILE_ENV} ({printable(path)})"
    token = value.strip()
    # A header value (RFC 9110 section 5.5) of visible ASCII and inner spaces: anything else would
    # be refused by http.client, in an error that quotes the value.
    if not token or not all(" " <= c <= "~" for c in token):
        raise ConfigError(
            f"{origin} holds no usable token (printable ASCII, not empty)",
            hint="Copy the token `sf-credproc serve` uses, without line breaks",
        )
    return token


def _read_token_file(path: str) -> str:
    from .local_files import read_regular_file

    shown = printable(path)
    try:
        data = read_regular_file(os.path.expanduser(path), MAX_TOKEN_BYTES)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(
            f"cannot read the server token file {shown} ({SERVER_TOKEN_FILE_ENV}): {reason}",
            hint=f"Point {SERVER_TOKEN_FILE_ENV} at the file that holds the server's token",
        ) from None
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise ConfigError(
            f"the server token file {shown} ({SERVER_TOKEN_FILE_ENV}) is not ASCII text",
            hint="It must hold the token alone",
        ) from None
