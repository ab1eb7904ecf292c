"""The JWT bearer assertion (RFC 7523 section 3) as Salesforce expects it, signed RS256.

Salesforce's "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration": ``iss`` is the connected
app's consumer key, ``sub`` the username, ``aud`` the login host (or Experience Cloud site), ``exp``
a NumericDate (RFC 7519 section 2: seconds, an integer here) a few minutes ahead.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

#: Lifetime of an assertion. Salesforce documents "within 3 minutes"; it is used once, at once.
ASSERTION_LIFETIME_SECONDS = 180


class Claims(NamedTuple):
    """The claims of one assertion; ``jti`` makes each one unique."""

    iss: str
    sub: str
    aud: str
    iat: int
    exp: int
    jti: str

    def as_dict(self) -> dict[str, str | int]:
        return {
            "iss": self.iss,
            "sub": self.sub,
            "aud": self.aud,
            "iat": self.iat,
            "exp": self.exp,
            "jti": self.jti,
        }


def build_claims(*, client_id: str, username: str, audience: str, now: float) -> Claims:
    """Claims for an assertion issued at ``now`` (Unix seconds), with a fresh random ``jti``."""
    issued_at = int(now)
    return Claims(
        iss=client_id,
        sub=username,
        aud=audience,
        iat=issued_at,
        exp=issued_at + ASSERTION_LIFETIME_SECONDS,
        jti=secrets.token_urlsafe(16),
    )


def sign_assertion(key: RSAPrivateKey, claims: Claims) -> str:
    """The compact JWS (RFC 7515 section 7.1) of ``claims``, signed RS256 with ``key``."""
    import jwt

    # Always name the algorithm: PyJWT's default is HS256.
    return jwt.encode(claims.as_dict(), key, algorithm="RS256", headers={"typ": "JWT"})
