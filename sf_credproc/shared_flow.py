"""The shared tier in front of the login: read, lease, log in once, write both tiers.

local miss → shared hit → copy to the local cache → done; shared miss → take the fleet-wide lease
(a conditional write) → log in → write the shared item and the local entry. A process that finds the
lease held waits, polling with backoff, for the holder's token, until the lease expires (the holder
died: take it over) or the deadline passes. Any failure of the shared tier is a warning, after which
the command goes on as if there were no shared tier.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from .aws import AwsClients
from .cache import CacheIdentity, FileTokenCache
from .clock import Clock
from .deadline import Deadline
from .errors import TransientError
from .freshness import is_fresh, outlives_session
from .log import Log
from .service import Outcome, log_cache_hit, log_in_lazily
from .settings import Settings
from .shared_cache import DynamoDbSharedCache, SharedCacheUnavailable, new_holder_id

#: A lease outlives its holder's own deadline by this much: the holder either wrote or died.
LEASE_MARGIN_SECONDS = 5.0
FIRST_POLL_SECONDS = 0.1
MAX_POLL_SECONDS = 1.0


def through_shared_cache(
    settings: Settings,
    cache: FileTokenCache,
    identity: CacheIdentity,
    *,
    clock: Clock,
    deadline: Deadline,
    environ: Mapping[str, str],
    log: Log,
) -> Outcome | None:
    """The credential by way of the shared tier, or None when that tier is unavailable."""
    if settings.shared_table is None or settings.shared_key is None:
        return None
    aws = AwsClients.for_settings(settings, deadline)
    shared = DynamoDbSharedCache(
        settings.shared_table,
        settings.shared_key.target,
        aws,
        clock,
        kms_region=settings.shared_key.region,
    )
    item_id = identity.file_stem
    holder = new_holder_id()
    try:
        skip_read = settings.refresh
        first_round = True
        pause = FIRST_POLL_SECONDS
        holder_now = "another process"
        outlived = False
        while True:
            if not skip_read:
                entry, lease = shared.read(item_id)
                holder_now = lease.holder or holder_now
                expiration = entry.expiration if entry is not None else 0
                now = clock.time()
                # An item obtained under a longer --session-ttl is replaced, like a local entry.
                outlived = outlives_session(expiration, now, settings.session_ttl_seconds)
                fresh = is_fresh(
                    expiration, now, settings.min_ttl_seconds, settings.session_ttl_seconds
                )
                if entry is not None and fresh:
                    saved = cache.write(
                        identity, entry.credential_json, entry.expiration, entry.issued_at
                    )
                    log.info(
                        "shared-cache",
                        f"shared cache: hit in {shared.table}; copied to {saved.path}",
                        calls=shared.calls,
                    )
                    log_cache_hit(entry.expiration, clock, log, "shared cache: hit")
                    return Outcome(entry.credential_json, saved.path, True, saved.header)
            skip_read = False
            lease_seconds = settings.timeout_seconds + LEASE_MARGIN_SECONDS
            # fresh_for=None takes the lease whatever the item holds: a forced refresh, or an item
            # that outlives the current session TTL (the condition would call it fresh).
            forced = (settings.refresh and first_round) or outlived
            fresh_for = None if forced else settings.min_ttl_seconds
            first_round = False
            if shared.try_lease(item_id, holder, lease_seconds, fresh_for=fresh_for):
                log.info(
                    "shared-cache", f"shared cache: holding the lease in {shared.table}; logging in"
                )
                return _log_in_and_share(
                    settings, cache, identity, shared, holder, clock, deadline, environ, log, aws
                )
            wait = pause * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret
            if deadline.remaining() <= wait:
                raise TransientError(
                    "another machine is logging in for this user and did not finish within the "
                    f"{settings.timeout_seconds:g} s deadline",
                    hint="Retry later, or raise --timeout",
                    retry_now=False,
                )
            log.info(
                "shared-cache",
                f"shared cache: {holder_now} holds the lease; checking again in {wait:.2f} s",
            )
            clock.sleep(wait)
            pause = min(pause * 1.5, MAX_POLL_SECONDS)
    except SharedCacheUnavailable as problem:
        log.warning(
            "shared-cache",
            f"shared cache dynamodb://{settings.shared_table} is unavailable ({problem}); "
            "going on with the local cache only",
        )
        return None


def _log_in_and_share(
    settings: Settings,
    cache: FileTokenCache,
    identity: CacheIdentity,
    shared: DynamoDbSharedCache,
    holder: str,
    clock: Clock,
    deadline: Deadline,
    environ: Mapping[str, str],
    log: Log,
    aws: AwsClients,
) -> Outcome:
    try:
        credential = log_in_lazily(settings, clock, deadline, environ, log, aws)
    except BaseException:
        shared.release(identity.file_stem, holder)
        raise
    credential_json = credential.to_json()
    try:
        shared.write(
            identity.file_stem, credential_json, credential.expiration, credential.issued_at, holder
        )
    except SharedCacheUnavailable as problem:
        # The login succeeded: the token is good even if the fleet cannot have it.
        shared.release(identity.file_stem, holder)
        log.warning(
            "shared-cache",
            f"shared cache dynamodb://{shared.table} could not be written ({problem}); "
            "the token is kept in the local cache only",
        )
    saved = cache.write(identity, credential_json, credential.expiration, credential.issued_at)
    log.info("cache", f"cache: saved {saved.path} and the shared item", calls=shared.calls)
    return Outcome(credential_json, saved.path, False, saved.header)
