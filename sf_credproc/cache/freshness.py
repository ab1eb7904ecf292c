"""When a cached token may be served: one rule for ``get``, the fast path, ``cache list`` and the
shared tier.

A token is served while more than the minimum TTL remains before its ``Expiration`` (botocore's
advisory refresh window, 15 minutes, is the default) and while that ``Expiration`` is no later than
the end of a session of the *current* ``--session-ttl`` started now: lowering ``--session-ttl``
takes effect at once, not when the old token expires.

The minimum TTL arrives resolved (its default, which scales with the session, is the option spec's:
``config.options.default_min_ttl``). Deliberately import-free: the cache-hit fast path uses it.
"""

from __future__ import annotations

#: Entries copied from the shared tier were written on another machine's clock: a few seconds of
#: skew must not make every such entry look longer-lived than the session, and so never served.
CLOCK_SKEW_ALLOWANCE_SECONDS = 60


def outlives_session(expiration: float, now: float, session_ttl_seconds: int) -> bool:
    """True when ``expiration`` is later than a session started now could last: the token was
    obtained under a longer ``--session-ttl`` than the one in force."""
    return expiration - now > session_ttl_seconds + CLOCK_SKEW_ALLOWANCE_SECONDS


def is_fresh(expiration: float, now: float, min_ttl_seconds: int, session_ttl_seconds: int) -> bool:
    """True when a token expiring at ``expiration`` (Unix seconds) may be served at ``now``."""
    return expiration - now > min_ttl_seconds and not outlives_session(
        expiration, now, session_ttl_seconds
    )


def freshness_state(
    expiration: float, now: float, min_ttl_seconds: int, session_ttl_seconds: int
) -> str:
    """``fresh``, ``refresh due`` (the next ``get`` logs in) or ``expired``, for ``cache list``."""
    if is_fresh(expiration, now, min_ttl_seconds, session_ttl_seconds):
        return "fresh"
    return "expired" if expiration <= now else "refresh due"
