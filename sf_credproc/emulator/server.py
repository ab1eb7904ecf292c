"""A local emulator of Salesforce's OAuth 2.0 endpoints for the JWT bearer flow.

It behaves like a Salesforce org for ``/services/oauth2/token`` (RFC 7523 with Salesforce's checks and
exact JSON bodies, no ``expires_in``), ``/services/oauth2/revoke``, ``/services/oauth2/userinfo`` and
the few REST calls clients make after logging in (``emulator_rest.py``).
Connected apps (or External Client Apps) are registered with a certificate (or public key); users
are pre-authorized per app.
Used by the test suite, ``sf-credproc demo`` and ``sf-credproc emulator``; standard library plus
PyJWT and cryptography only.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ..config.login_url import PRODUCTION_AUDIENCE, SANDBOX_AUDIENCE
from ..oauth.exchange import JWT_BEARER_GRANT_TYPE
from ..oauth.oauth_errors import LEGACY_AUDIENCES
from .rest import handle_rest

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TOKEN_CHARS = _BASE62 + "._"
LOGINS_PER_USER_PER_HOUR = 3600


def salesforce_id(prefix: str) -> str:
    """A random 18-character Salesforce id with ``prefix`` (``00D`` org, ``005`` user).

    The last three characters are the case-safe checksum: for each 5-character chunk of the
    15-character id, a bit per upper-case letter indexes ``A-Z0-5``.
    """
    short = prefix + "".join(secrets.choice(_BASE62) for _ in range(15 - len(prefix)))
    suffix = ""
    for chunk in (short[0:5], short[5:10], short[10:15]):
        bits = sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return short + suffix


def load_verification_key(pem: bytes) -> rsa.RSAPublicKey:
    """The RSA public key in a PEM certificate (what the connected app stores) or public key."""
    if b"BEGIN CERTIFICATE" in pem:
        public: object = x509.load_pem_x509_certificate(pem).public_key()
    else:
        public = load_pem_public_key(pem)
    if not isinstance(public, rsa.RSAPublicKey):
        raise ValueError("a connected app's certificate must hold an RSA key")
    return public


@dataclass
class ConnectedApp:
    """A connected app with "Use digital signatures" (or an External Client App with "Enable JWT
    Bearer Flow") and the certificate's public key."""

    client_id: str
    public_key: rsa.RSAPublicKey
    scope: str = "api"
    session_ttl_seconds: int = 7200
    #: A new or edited app is unknown to the token endpoint until this time (propagation delay).
    usable_after: float = 0.0
    #: An External Client App, which (as users report) refuses the legacy login hosts as the
    #: audience with ``app_not_found``; the org's My Domain URL works.
    external_client_app: bool = False
    signing_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)


@dataclass
class OrgUser:
    """A user of the org, pre-authorized for the connected apps in ``approved_apps``."""

    username: str
    user_id: str
    approved_apps: set[str]
    active: bool = True
    ip_restricted: bool = False
    logins: list[float] = field(default_factory=list)


@dataclass
class IssuedSession:
    """A session the emulator issued; the token is its key in ``SalesforceEmulator.sessions``."""

    username: str
    client_id: str
    issued_at: float
    expires_at: float
    revoked: bool = False


@dataclass(frozen=True)
class TokenRequest:
    """What one call to the token endpoint carried, and how the emulator answered."""

    content_type: str
    grant_type: str | None
    header: dict[str, Any] | None
    claims: dict[str, Any] | None
    status: int
    error: str | None
    assertion: str = field(repr=False, default="")


@dataclass(frozen=True)
class CannedResponse:
    """An answer the token endpoint gives instead of the real one (outages, proxies, faults).

    ``kind``: ``respond`` sends it; ``reset`` drops the connection (TCP RST) without an answer;
    ``truncate`` sends the headers and half the body, then resets; ``hang`` waits ``delay_seconds``
    first (a slow or stuck server). A canned answer with status 0 (``PASS``) lets the real endpoint
    answer after the fault.
    """

    status: int
    body: bytes
    content_type: str = "text/html; charset=UTF-8"
    kind: str = "respond"
    delay_seconds: float = 0.0


class SalesforceEmulator:
    """One emulated org serving the OAuth endpoints on ``url`` (http, or https with a context)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        audiences: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.org_id = salesforce_id("00D")
        self.clock = clock
        self.login_limit_per_hour = LOGINS_PER_USER_PER_HOUR
        self.apps: dict[str, ConnectedApp] = {}
        self.users: dict[str, OrgUser] = {}
        self.sessions: dict[str, IssuedSession] = {}
        self.token_requests: list[TokenRequest] = []
        self.request_counts: Counter[str] = Counter()
        self.canned_responses: list[CannedResponse] = []
        #: Appended to every new token, e.g. shell metacharacters to test consumers' quoting.
        self.token_suffix = ""
        self.lock = threading.RLock()
        #: Bumped by reset(): a delayed request from before it is dropped.
        self.generation = 0
        self._server = _Server((host, port), _Handler, self, ssl_context)
        bound_host, bound_port = str(self._server.server_address[0]), self._server.server_address[1]
        scheme = "https" if ssl_context else "http"
        shown_host = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        self.url = f"{scheme}://{shown_host}:{bound_port}"
        # Like a production org: the login host, and the emulator's own URL as a "site" URL.
        self.audiences = (
            set(audiences) if audiences is not None else {PRODUCTION_AUDIENCE, self.url}
        )
        self._thread: threading.Thread | None = None

    # -- set-up -------------------------------------------------------------------------------

    def register_app(
        self,
        client_id: str,
        certificate_pem: bytes,
        *,
        scope: str = "api",
        session_ttl_seconds: int = 7200,
        propagation_seconds: float = 0.0,
        external_client_app: bool = False,
    ) -> ConnectedApp:
        """Register a connected app with the certificate (or public key) its assertions verify with.

        ``external_client_app=True`` registers an External Client App instead: it refuses
        ``https://login.salesforce.com`` and ``https://test.salesforce.com`` as the audience, so
        only the other ``audiences`` (the emulator's URL, a My Domain URL added there) log in.
        """
        app = ConnectedApp(
            client_id,
            load_verification_key(certificate_pem),
            scope=scope,
            session_ttl_seconds=session_ttl_seconds,
            usable_after=self.clock() + propagation_seconds,
            external_client_app=external_client_app,
        )
        with self.lock:
            self.apps[client_id] = app
        return app

    def add_user(self, username: str, *, approve: Iterable[str] = ()) -> OrgUser:
        """Add a user, pre-authorized for the given connected apps' client ids."""
        user = OrgUser(username, salesforce_id("005"), set(approve))
        with self.lock:
            self.users[username] = user
        return user

    def use_sandbox_audience(self) -> None:
        """Behave like a sandbox: accept ``https://test.salesforce.com`` instead of login."""
        self.audiences = {SANDBOX_AUDIENCE, self.url}

    def reset(self) -> None:
        """Forget apps, users, sessions, counters and canned answers (between tests)."""
        with self.lock:
            self.generation += 1
            self.apps.clear()
            self.users.clear()
            self.sessions.clear()
            self.token_requests.clear()
            self.request_counts.clear()
            self.canned_responses.clear()
            self.token_suffix = ""
            self.login_limit_per_hour = LOGINS_PER_USER_PER_HOUR
            self.audiences = {PRODUCTION_AUDIENCE, self.url}

    @property
    def token_request_count(self) -> int:
        return self.request_counts["/services/oauth2/token"]

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> SalesforceEmulator:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SalesforceEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the endpoints ------------------------------------------------------------------------

    def token(self, form: dict[str, str], content_type: str) -> tuple[int, dict[str, Any]]:
        """``POST /services/oauth2/token``: Salesforce's checks, in Salesforce's order."""
        grant_type = form.get("grant_type")
        assertion = form.get("assertion", "")
        header: dict[str, Any] | None = None
        claims: dict[str, Any] | None = None

        def answer(status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            self.token_requests.append(
                TokenRequest(
                    content_type, grant_type, header, claims, status, body.get("error"), assertion
                )
            )
            return status, body

        def refuse(error: str, description: str) -> tuple[int, dict[str, Any]]:
            return answer(400, {"error": error, "error_description": description})

        if grant_type != JWT_BEARER_GRANT_TYPE:
            return refuse("unsupported_grant_type", "grant type not supported")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return refuse("invalid_grant", "invalid assertion")
        now = self.clock()
        app = self.apps.get(str(claims.get("iss")))
        if app is None or app.usable_after > now:
            return refuse("invalid_client_id", "client identifier invalid")
        if app.external_client_app and claims.get("aud") in LEGACY_AUDIENCES:
            # What users report for an External Client App asked with a legacy login host.
            return refuse("app_not_found", "External client app is not installed in this org")
        if claims.get("aud") not in self.audiences:
            return refuse("invalid_grant", "audience is invalid")
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, (int, float)):
            return refuse("invalid_grant", "invalid assertion")
        if exp <= now:
            return refuse("invalid_grant", "expired authorization code")
        if header.get("alg") != "RS256" or not _signature_valid(assertion, app.public_key):
            return refuse("invalid_grant", "invalid assertion")
        user = self.users.get(str(claims.get("sub")))
        if user is None or not user.active:
            return refuse("invalid_grant", "invalid user credentials")
        if app.client_id not in user.approved_apps:
            return refuse("invalid_grant", "user hasn't approved this consumer")
        if user.ip_restricted:
            return refuse("invalid_grant", "ip restricted or invalid login hours")
        user.logins = [t for t in user.logins if t > now - 3600]
        if len(user.logins) >= self.login_limit_per_hour:
            return refuse("invalid_grant", "login rate exceeded")
        user.logins.append(now)
        return answer(200, self._issue(app, user, now))

    def _issue(self, app: ConnectedApp, user: OrgUser, now: float) -> dict[str, Any]:
        # Salesforce session ids are "<15-character org id>!<opaque>"; clients check the prefix.
        opaque = "".join(secrets.choice(_TOKEN_CHARS) for _ in range(96))
        token = f"{self.org_id[:15]}!AQ{opaque}{self.token_suffix}"
        self.sessions[token] = IssuedSession(
            user.username, app.client_id, now, now + app.session_ttl_seconds
        )
        identity = f"{self.url}/id/{self.org_id}/{user.user_id}"
        issued_at = str(int(now * 1000))
        signature = hmac.new(app.signing_secret, (identity + issued_at).encode(), hashlib.sha256)
        return {
            "access_token": token,
            "signature": base64.b64encode(signature.digest()).decode(),
            "scope": app.scope,
            "instance_url": self.url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }

    def session_for(self, token: str) -> IssuedSession | None:
        """The live session of ``token``: not revoked, not expired."""
        session = self.sessions.get(token)
        if session is None or session.revoked or session.expires_at <= self.clock():
            return None
        return session

    def revoke(self, token: str) -> tuple[int, dict[str, Any] | None]:
        """``/services/oauth2/revoke``: 200 with an empty body, or 400 ``invalid_token``."""
        session = self.sessions.get(token)
        if session is None or session.revoked:
            return 400, {"error": "invalid_token", "error_description": "invalid token"}
        session.revoked = True
        return 200, None

    def userinfo(self, token: str) -> dict[str, Any] | None:
        """``/services/oauth2/userinfo`` (OpenID Connect UserInfo) for a live token."""
        session = self.session_for(token)
        if session is None:
            return None
        user = self.users[session.username]
        return {
            "sub": f"{self.url}/id/{self.org_id}/{user.user_id}",
            "user_id": user.user_id,
            "organization_id": self.org_id,
            "preferred_username": user.username,
            "nickname": user.username.split("@")[0],
            "name": user.username,
            "email": user.username,
            "email_verified": True,
            "zoneinfo": "America/Los_Angeles",
            "locale": "en_US",
            "language": "en_US",
            "user_type": "STANDARD",
            "active": user.active,
            "is_app_installed": True,
            "updated_at": formatdate(session.issued_at, usegmt=True),
            "urls": {"rest": f"{self.url}/services/data/v{{version}}/"},
        }


def _signature_valid(assertion: str, public_key: rsa.RSAPublicKey) -> bool:
    try:
        jwt.decode(
            assertion,
            public_key,
            algorithms=["RS256"],
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError:
        return False
    except jwt.PyJWTError:
        return False
    return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        emulator: SalesforceEmulator,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        if ":" in address[0]:
            import socket

            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self.emulator = emulator
        self.ssl_context = ssl_context

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-answer (killed, timed out) is not the emulator's problem.
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs in the connection's own thread, so a slow client blocks no one.
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: request lines would go to stderr of whoever embeds the emulator."""

    def finish(self) -> None:
        # After a fault that reset the connection, there is nothing left to flush.
        with contextlib.suppress(OSError, ValueError):
            super().finish()

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the emulated org's clock, so clock skew can be emulated.
        return formatdate(
            self.server.emulator.clock() if timestamp is None else timestamp, usegmt=True
        )

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        emulator = self.server.emulator
        parts = urlsplit(self.path)
        body = self._read_body()
        if parts.path == "/services/oauth2/token" and self._fault(emulator):
            return
        with emulator.lock:
            emulator.request_counts[parts.path] += 1
            if parts.path == "/services/oauth2/token":
                self._token(method, body)
            elif parts.path == "/services/oauth2/revoke":
                form = _form(body) if method == "POST" else _form(parts.query.encode())
                status, document = emulator.revoke(form.get("token", ""))
                self._send_json(status, document)
            elif parts.path == "/services/oauth2/userinfo":
                self._userinfo()
            elif parts.path == "/services/data" or parts.path.startswith("/services/data/"):
                status, rest = handle_rest(
                    emulator, method, parts.path, parts.query, self.headers.get("Authorization", "")
                )
                self._send_json(status, rest)
            else:
                not_found = [
                    {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
                ]
                self._send_json(404, not_found)

    def _fault(self, emulator: SalesforceEmulator) -> bool:
        """Play the next canned answer, outside the lock (it may sleep); True if it answered."""
        with emulator.lock:
            if not emulator.canned_responses:
                return False
            canned = emulator.canned_responses.pop(0)
            emulator.request_counts["/services/oauth2/token"] += 1
            generation = emulator.generation
        if canned.delay_seconds:
            time.sleep(canned.delay_seconds)
            if emulator.generation != generation:
                # reset() came in between: this request belongs to a world that is gone.
                self._reset()
                return True
        if canned.kind == "reset":
            self._reset()
        elif canned.kind == "truncate":
            self.send_response(canned.status)
            self.send_header("Content-Type", canned.content_type)
            self.send_header("Content-Length", str(len(canned.body)))
            self.end_headers()
            self.wfile.write(canned.body[: len(canned.body) // 2])
            self.wfile.flush()
            self._reset()
        elif canned.status:
            self._send(canned.status, canned.body, canned.content_type)
        else:
            with emulator.lock:
                emulator.request_counts["/services/oauth2/token"] -= 1
            return False  # PASS: the real endpoint answers
        return True

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send a TCP RST: "connection reset by peer".
        import socket
        import struct

        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _token(self, method: str, body: bytes) -> None:
        emulator = self.server.emulator
        if method != "POST":
            self._send_json(
                400, {"error": "invalid_request", "error_description": "must use HTTP POST"}
            )
            return
        content_type = self.headers.get("Content-Type", "")
        form = _form(body) if content_type.startswith("application/x-www-form-urlencoded") else {}
        status, document = emulator.token(form, content_type)
        self._send_json(status, document)

    def _userinfo(self) -> None:
        authorization = self.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            self._send(401, b"Missing_OAuth_Token", "text/plain")
            return
        info = self.server.emulator.userinfo(authorization[len("Bearer ") :].strip())
        if info is None:
            self._send(403, b"Bad_OAuth_Token", "text/plain")
            return
        self._send_json(200, info)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            # Some clients (the Salesforce CLI among them) send request bodies chunked.
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, document: Any) -> None:
        body = b"" if document is None else json.dumps(document).encode()
        self._send(status, body, "application/json;charset=UTF-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache,must-revalidate,max-age=0,no-store,private")
        self.end_headers()
        self.wfile.write(body)


PASS = CannedResponse(0, b"")


def _form(body: bytes) -> dict[str, str]:
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}
