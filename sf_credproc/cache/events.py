"""The cache's log events that more than one tier says the same way."""

from __future__ import annotations

from .. import log
from ..clock import Clock
from ..credential import format_rfc3339


def log_cache_hit(expiration: int, clock: Clock, what: str) -> None:
    """Say that the answer comes from a cache, and until when.

    A hit never touches the key: without this line a broken key setup hides behind a cached token.
    """
    left = int(expiration - clock.time())
    log.info(
        "cache",
        f"{what}: the answer comes from the cache, expiring {format_rfc3339(expiration)} "
        f"(in {left} s); the key was not used (doctor or --refresh checks it)",
        expiration=format_rfc3339(expiration),
    )


def log_still_accepted() -> None:
    """Say that a token reported rejected is alive by Salesforce's word, and served again."""
    log.warning(
        "compare-and-refresh",
        "Salesforce still accepts the token reported as rejected (its userinfo endpoint answered "
        "200): the 401 had another cause; serving the same token, without a login",
    )


def log_outlived(expiration: int, session_ttl_seconds: int) -> None:
    """Say why a kept token that is not yet expired is not served."""
    log.info(
        "cache",
        f"cache: the cached token expires {format_rfc3339(expiration)}, later than --session-ttl "
        f"{session_ttl_seconds} allows (it was obtained under a longer one); not served",
    )
