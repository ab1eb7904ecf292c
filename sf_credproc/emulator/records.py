"""What an emulated org holds: connected apps, users, issued sessions, and a log of token requests.

Salesforce ids follow Salesforce's format (18 characters, with the case-safe checksum), so clients
that check them accept the emulator's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: A connected app's access token format: session ids, or its "JWT-based access tokens" setting.
TokenFormat = Literal["opaque", "jwt"]


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
    #: ``opaque`` (``<org id>!<opaque>``, the default) or ``jwt``: the app's "JWT-based access
    #: tokens" setting, RS256 JWTs whose ``exp`` ends the session.
    token_format: TokenFormat = "opaque"
    #: A JWT's lifetime (its ``exp`` after issue); ``None``: the session timeout.
    token_lifetime_seconds: float | None = None
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


@dataclass
class QueryCursor:
    """The records of a query not yet returned, kept under a query locator for ``nextRecordsUrl``.

    Salesforce ties a locator to the user who ran the query; so does the emulator.
    """

    username: str
    page_size: int
    records: list[dict[str, Any]] = field(repr=False)


def new_account(name: str, **fields: Any) -> dict[str, Any]:
    """An Account record with a fresh id: ``emulator.accounts.append(new_account("Acme"))``."""
    return {"Id": salesforce_id("001"), "Name": name, **fields}


def sample_accounts() -> list[dict[str, Any]]:
    """The Accounts a new emulator holds: three of a Developer Edition org's sample records."""
    return [
        new_account("Edge Communications", Type="Customer - Direct", BillingCity="Austin"),
        new_account("Burlington Textiles Corp of America", Type="Customer - Direct"),
        new_account("United Oil & Gas Corp.", Type="Customer - Direct", BillingCity="New York"),
    ]
