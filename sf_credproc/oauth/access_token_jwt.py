"""The ``exp`` of a JWT-format access token, read as a freshness hint. Imported only on a login.

A connected app or External Client App can issue its access tokens as JSON Web Tokens (the app's
"JWT-based access tokens" setting) instead of opaque session ids; such a token is a compact JWS
(RFC 7515 section 7.1) whose payload carries an ``exp`` claim, a NumericDate (RFC 7519 section
4.1.4: seconds since the epoch, possibly fractional). The signature is not verified: the token is
the resource server's to verify, and its ``exp`` only lets ``Expiration`` be earlier than the
session timeout says, never later (``Credential.from_token_response``). Anything else (an opaque
token, a JWS that does not decode, a payload without a numeric, finite ``exp``) reads as ``None``,
and the session timeout alone decides. The token and its claims are never logged or quoted.
"""

from __future__ import annotations

import math

import jwt


def expiry_of(access_token: str) -> int | None:
    """The ``exp`` of ``access_token`` in whole Unix seconds (rounded down, the safe side) if it
    is a JWT with a numeric, finite ``exp`` claim; otherwise ``None``. Never raises."""
    if access_token.count(".") != 2:  # compact JWS: header.payload.signature
        return None
    try:
        # Every check off: only the payload is read. ``verify_signature`` off implies the others
        # (PyJWT 2); they are named so that a reader need not know that.
        claims = jwt.decode(
            access_token,
            options={
                "verify_signature": False,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
        return None
    exp = claims.get("exp")
    if isinstance(exp, bool):  # JSON true is no date (and bool is an int in Python)
        return None
    if isinstance(exp, int):
        return exp
    if isinstance(exp, float) and math.isfinite(exp):
        return math.floor(exp)
    return None
