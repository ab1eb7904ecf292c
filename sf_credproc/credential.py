"""The versioned credential written to stdout (schema: ``schemas/credential-v1.schema.json``).

Modelled on AWS ``credential_process`` output: ``Version: 1``, an RFC 3339 UTC ``Expiration``.
Salesforce returns no ``expires_in``, so ``Expiration`` is ``IssuedAt`` plus the configured session
timeout (``--session-ttl``): a lower bound, since Salesforce extends sessions while they are used.
When the access token is a JWT (the app's "JWT-based access tokens" format) with an ``exp`` claim,
``Expiration`` is the earlier of that ``exp`` and ``IssuedAt + --session-ttl``; the claim is read,
not verified, as a freshness hint only (``oauth/access_token_jwt.py``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import SalesforceRefusedError

if TYPE_CHECKING:
    from .oauth.token_response import TokenResponse

CREDENTIAL_VERSION = 1
SCHEMA_RESOURCE = "schemas/credential-v1.schema.json"
#: The string fields of the output contract (schemas/credential-v1.schema.json), all required.
TEXT_FIELDS = (
    "AccessToken",
    "TokenType",
    "InstanceUrl",
    "Id",
    "OrgId",
    "Username",
    "Scope",
    "IssuedAt",
    "Expiration",
)
EXPIRED_ON_ARRIVAL_HINT = (
    "Check this machine's clock: it is probably ahead of Salesforce's by more than the token's "
    "lifetime (synchronise it, e.g. with NTP)"
)


def format_rfc3339(epoch_seconds: int) -> str:
    """``2026-11-29T08:00:00Z`` for a Unix time (RFC 3339 section 5.6, UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def org_id_from_identity_url(id_url: str) -> str:
    """The org id in an identity URL ``https://HOST/id/<org id>/<user id>``, or ``""``."""
    parts = id_url.rstrip("/").split("/")
    if len(parts) >= 3 and parts[-3] == "id" and parts[-2].startswith("00D"):
        return parts[-2]
    return ""


@dataclass(frozen=True)
class Credential:
    """An access token and what a consumer needs to use it; ``repr()`` never shows the token."""

    access_token: str = field(repr=False)
    token_type: str
    instance_url: str
    id_url: str
    org_id: str
    username: str
    scope: str
    issued_at: int
    expiration: int

    @classmethod
    def from_token_response(
        cls, response: TokenResponse, *, username: str, sent_at: float, session_ttl_seconds: int
    ) -> Credential:
        """Build the credential; ``sent_at`` is when the request left, the conservative start.

        Times are on this machine's clock, which is the one consumers compare ``Expiration`` with;
        Salesforce's ``issued_at`` is on its own clock and is not mixed in. A JWT-format token's
        ``exp`` (on Salesforce's clock) can only make ``Expiration`` earlier; one at or before
        ``IssuedAt`` is a token that expired on arrival, refused with ``SalesforceRefusedError``
        (exit 4, not retried: another login would meet the same clocks).
        """
        issued_at = int(sent_at)
        expiration = issued_at + session_ttl_seconds
        from .oauth.access_token_jwt import expiry_of  # PyJWT: on the login path only

        exp = expiry_of(response.access_token)
        if exp is not None and exp <= issued_at:
            raise SalesforceRefusedError(
                "Salesforce issued a JWT-format access token whose exp is not after the moment "
                "it was requested, by this machine's clock: it expired on arrival",
                hint=EXPIRED_ON_ARRIVAL_HINT,
            )
        if exp is not None:
            expiration = min(expiration, exp)
        return cls(
            access_token=response.access_token,
            token_type=response.token_type,
            instance_url=response.instance_url,
            id_url=response.id_url,
            org_id=org_id_from_identity_url(response.id_url),
            username=username,
            scope=response.scope,
            issued_at=issued_at,
            expiration=expiration,
        )

    @classmethod
    def from_document(cls, document: object, *, issued_at: int, expiration: int) -> Credential:
        """The credential in ``document``, a JSON object of the output contract (version 1)
        whose ``IssuedAt`` and ``Expiration`` are these times, as a stored credential's are kept
        beside it (a cache entry's header, a shared item's attributes).

        Raises ``ValueError`` for anything less: a missing, extra or wrongly typed field, another
        version, an empty token or token type, an instance URL that is not http(s).
        """
        if not isinstance(document, dict) or set(document) != {"Version", *TEXT_FIELDS}:
            raise ValueError("not an object with exactly the fields of the output contract")
        version = document["Version"]
        if type(version) is not int or version != CREDENTIAL_VERSION:  # True == 1: no version
            raise ValueError("not version 1 of the output contract")
        if not all(isinstance(document[name], str) for name in TEXT_FIELDS):
            raise ValueError("a field of the output contract is not a string")
        if not (
            document["AccessToken"]
            and document["TokenType"]
            and document["InstanceUrl"].startswith(("https://", "http://"))
            and document["IssuedAt"] == format_rfc3339(issued_at)
            and document["Expiration"] == format_rfc3339(expiration)
        ):
            raise ValueError("a field of the output contract holds no usable value")
        return cls(
            access_token=document["AccessToken"],
            token_type=document["TokenType"],
            instance_url=document["InstanceUrl"],
            id_url=document["Id"],
            org_id=document["OrgId"],
            username=document["Username"],
            scope=document["Scope"],
            issued_at=issued_at,
            expiration=expiration,
        )

    def seconds_left(self, now: float | None = None) -> float:
        """Seconds until ``expiration`` (negative once it has passed)."""
        return self.expiration - (time.time() if now is None else now)

    def to_document(self) -> dict[str, Any]:
        """The JSON object of the output contract, in its documented field order."""
        return {
            "Version": CREDENTIAL_VERSION,
            "AccessToken": self.access_token,
            "TokenType": self.token_type,
            "InstanceUrl": self.instance_url,
            "Id": self.id_url,
            "OrgId": self.org_id,
            "Username": self.username,
            "Scope": self.scope,
            "IssuedAt": format_rfc3339(self.issued_at),
            "Expiration": format_rfc3339(self.expiration),
        }

    def to_json(self) -> str:
        """The credential's JSON line, as ``--format json`` prints it and the caches keep it."""
        return json.dumps(self.to_document())


def load_schema() -> dict[str, Any]:
    """The JSON Schema of the credential, as shipped in the package."""
    from importlib.resources import files

    document: dict[str, Any] = json.loads(files(__package__).joinpath(SCHEMA_RESOURCE).read_text())
    return document
