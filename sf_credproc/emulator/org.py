"""An emulated Salesforce org: the behaviour of its OAuth 2.0 endpoints, without the HTTP.

``/services/oauth2/token`` follows RFC 7523 with Salesforce's checks in Salesforce's order and its
exact JSON bodies (no ``expires_in``); ``/services/oauth2/revoke`` and ``/services/oauth2/userinfo``
(OpenID Connect UserInfo) honour revocation and session expiry. ``server.py`` serves it over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from email.utils import formatdate
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from ..config.login_url import PRODUCTION_AUDIENCE, SANDBOX_AUDIENCE
from ..oauth.exchange import JWT_BEARER_GRANT_TYPE
from ..oauth.oauth_errors import LEGACY_AUDIENCES
from .records import (
    ConnectedApp,
    IssuedSession,
    OrgUser,
    QueryCursor,
    TokenFormat,
    TokenRequest,
    load_verification_key,
    salesforce_id,
    sample_accounts,
)

_TOKEN_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"
LOGINS_PER_USER_PER_HOUR = 3600
QUERY_PAGE_SIZE = 2000


class EmulatedOrg:
    """One org's apps, users and sessions, and the answers of its OAuth endpoints."""

    def __init__(
        self,
        url: str,
        *,
        audiences: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.org_id = salesforce_id("00D")
        self.clock = clock
        self.login_limit_per_hour = LOGINS_PER_USER_PER_HOUR
        self.apps: dict[str, ConnectedApp] = {}
        self.users: dict[str, OrgUser] = {}
        self.sessions: dict[str, IssuedSession] = {}
        self.token_requests: list[TokenRequest] = []
        self.request_counts: Counter[str] = Counter()
        #: Appended to every new token, e.g. shell metacharacters to test consumers' quoting.
        self.token_suffix = ""
        #: The org's Account records (``records.new_account``), as the REST API's query reads them.
        self.accounts: list[dict[str, Any]] = sample_accounts()
        #: Records per page of a query's answer (Salesforce's default: 2,000).
        self.query_page_size = QUERY_PAGE_SIZE
        #: Queries with records left to page through, by query locator.
        self.query_cursors: dict[str, QueryCursor] = {}
        #: Signs JWT-based access tokens (``token_format="jwt"``); made on first use.
        self._token_key: rsa.RSAPrivateKey | None = None
        self.lock = threading.RLock()
        # Like a production org: the login host, and the emulator's own URL as a "site" URL.
        self.audiences = (
            set(audiences) if audiences is not None else {PRODUCTION_AUDIENCE, self.url}
        )

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
        token_format: TokenFormat = "opaque",  # noqa: S107 (a format's name, not a secret)
        token_lifetime_seconds: float | None = None,
    ) -> ConnectedApp:
        """Register a connected app with the certificate (or public key) its assertions verify with.

        ``external_client_app=True`` registers an External Client App instead: it refuses
        ``https://login.salesforce.com`` and ``https://test.salesforce.com`` as the audience, so
        only the other ``audiences`` (the emulator's URL, a My Domain URL added there) log in.
        ``token_format="jwt"`` issues JWT-based access tokens (the app's token format setting):
        RS256 JWTs signed by the emulator, whose ``exp`` is ``token_lifetime_seconds`` after issue
        (by default the session timeout) and ends the session.
        """
        if token_format not in ("opaque", "jwt"):
            raise ValueError(f"token_format must be 'opaque' or 'jwt', not {token_format!r}")
        app = ConnectedApp(
            client_id,
            load_verification_key(certificate_pem),
            scope=scope,
            session_ttl_seconds=session_ttl_seconds,
            usable_after=self.clock() + propagation_seconds,
            external_client_app=external_client_app,
            token_format=token_format,
            token_lifetime_seconds=token_lifetime_seconds,
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
        """Forget apps, users, sessions and counters, and restore the sample Accounts (between
        tests)."""
        with self.lock:
            self.apps.clear()
            self.users.clear()
            self.sessions.clear()
            self.token_requests.clear()
            self.request_counts.clear()
            self.token_suffix = ""
            self.login_limit_per_hour = LOGINS_PER_USER_PER_HOUR
            self.accounts = sample_accounts()
            self.query_page_size = QUERY_PAGE_SIZE
            self.query_cursors.clear()
            self.audiences = {PRODUCTION_AUDIENCE, self.url}

    @property
    def token_request_count(self) -> int:
        return self.request_counts["/services/oauth2/token"]

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
        exp = numeric_date(claims.get("exp"))
        if exp is None:
            # No usable exp (missing, or not a date): "invalid assertion", Salesforce's answer to an
            # assertion it cannot read. Salesforce documents exp as required but not its error
            # when absent; "expired authorization code" would send the user to check clocks, when
            # the fix is to send the claim.
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
        expires_at = now + app.session_ttl_seconds
        if app.token_format == "jwt":
            if app.token_lifetime_seconds is not None:
                expires_at = now + app.token_lifetime_seconds
            expires_at = float(int(expires_at))  # the session ends at the token's exp, exactly
            token = self._jwt_access_token(app, user, now, expires_at) + self.token_suffix
        else:
            # Salesforce session ids are "<15-character org id>!<opaque>"; clients check the prefix.
            opaque = "".join(secrets.choice(_TOKEN_CHARS) for _ in range(96))
            token = f"{self.org_id[:15]}!AQ{opaque}{self.token_suffix}"
        self.sessions[token] = IssuedSession(user.username, app.client_id, now, expires_at)
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

    def _jwt_access_token(
        self, app: ConnectedApp, user: OrgUser, now: float, expires_at: float
    ) -> str:
        """A JWT-based access token shaped like Salesforce's (header ``tty``, ``tnk``; payload
        ``scp``, ``sfi``, ``exp``), signed RS256 with the org's own key, which nobody verifies."""
        if self._token_key is None:
            self._token_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        header = {
            "kid": "emulator",
            "typ": "JWT",
            "tty": "sfdc-core-token",
            "tnk": f"core/emulator/{self.org_id}",
            "ver": "1.0",
        }
        claims = {
            "iss": self.url,
            "sub": f"uid:{user.user_id}",
            "aud": [self.url],
            "client_id": app.client_id,
            "scp": app.scope.split(),
            "mty": "oauth",
            "sfi": secrets.token_hex(16),  # unique per token, as a session id is
            "iat": int(now),
            "nbf": int(now),
            "exp": int(expires_at),
        }
        return jwt.encode(claims, self._token_key, algorithm="RS256", headers=header)

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


def numeric_date(value: Any) -> float | None:
    """A JWT ``NumericDate`` (RFC 7519 section 2) as Salesforce reads one: a JSON number, or a string
    of decimal digits, which Salesforce accepts too (its own Help example for the JWT bearer flow
    quotes ``exp``, and simple-salesforce sends it as a string). None for anything else: a
    boolean, a missing claim, a string that is not a whole number of seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        return float(int(value))
    return None


def _signature_valid(assertion: str, public_key: rsa.RSAPublicKey) -> bool:
    try:
        jwt.decode(
            assertion,
            public_key,
            algorithms=["RS256"],
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:  # InvalidSignatureError among them
        return False
    return True
