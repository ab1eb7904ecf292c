"""The shared tier in front of the login: read, lease, log in once, write both tiers.

local miss → shared hit → copy to the local cache → done; shared miss → take the fleet-wide lease
(a conditional write) → log in → write the local entry, then the shared item. A process that finds
the lease held waits, polling with backoff, for the holder's token, until the lease expires (the
holder died: take it over) or the tier's share of the deadline is spent.

The tier gets at most half of the deadline (``deadline_share.py``), so a login of this machine's
own always fits after it. Any failure of the tier is one warning, after which the command goes on
as if there were no shared tier; a lease this process may hold is given back on every path.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from .. import log
from ..aws import AwsClients
from ..clock import Clock
from ..config.settings import Settings
from ..deadline import Deadline
from ..service import Outcome, log_cache_hit, log_in_lazily
from .deadline_share import DeadlineShare
from .files import CacheIdentity, FileTokenCache
from .freshness import is_fresh, outlives_session
from .shared import DynamoDbSharedCache, SharedRead, new_holder_id
from .shared_item import LeaseState, SharedCacheUnavailable, StoredVersion
from .shared_watermark import IssuedAtWatermark

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
) -> Outcome | None:
    """The credential by way of the shared tier, or None when that tier is unavailable."""
    if settings.shared_table is None or settings.shared_key is None:
        return None
    share = DeadlineShare(deadline, clock)
    aws = AwsClients.for_settings(settings, deadline)  # the login's: the whole deadline
    shared = DynamoDbSharedCache.for_settings(settings, aws.cut_to(share), clock)
    item_id = identity.file_stem
    watermark = IssuedAtWatermark(cache.directory, item_id)
    holder = new_holder_id()
    may_hold_lease = False
    try:
        found = SharedRead(None, LeaseState(None, 0.0))
        skip_read = settings.refresh
        first_round = True
        pause = FIRST_POLL_SECONDS
        holder_now = "another process"
        refusal_said = False
        outlived = False
        while True:
            if not skip_read:
                found = _read_checked(shared, item_id, watermark)
                holder_now = found.lease.holder or holder_now
                entry = found.entry
                expiration = entry.expiration if entry is not None else 0
                now = clock.time()
                # An item obtained under a longer --session-ttl is replaced, like a local entry.
                outlived = outlives_session(expiration, now, settings.session_ttl_seconds)
                fresh = is_fresh(
                    expiration, now, settings.min_ttl_seconds, settings.session_ttl_seconds
                )
                if entry is not None and fresh:
                    watermark.raise_to(entry.issued_at)
                    saved = cache.write(
                        identity, entry.credential_json, entry.expiration, entry.issued_at
                    )
                    log.info(
                        "shared-cache",
                        f"shared cache: hit in {shared.table}; copied to {saved.path}",
                        calls=shared.calls,
                    )
                    log_cache_hit(entry.expiration, clock, "shared cache: hit")
                    return Outcome(entry.credential_json, saved.path, True, saved.header)
                if found.refused and not refusal_said:
                    refusal_said = True
                    log.warning(
                        "shared-cache",
                        f"shared cache dynamodb://{shared.table}: the item for this identity is "
                        f"refused: {found.refused}; logging in to replace it",
                    )
            skip_read = False
            # fresh_for=None takes the lease whatever the item holds: a forced refresh, or an item
            # that outlives the current session TTL (the condition would call it fresh).
            forced = (settings.refresh and first_round) or outlived
            fresh_for = None if forced else settings.min_ttl_seconds
            first_round = False
            # A write whose answer is lost may still have taken the lease: from here on, every
            # way out gives it back.
            may_hold_lease = True
            replacing = found.stored if found.refused else None
            if shared.try_lease(item_id, holder, fresh_for=fresh_for, replacing=replacing):
                log.info(
                    "shared-cache", f"shared cache: holding the lease in {shared.table}; logging in"
                )
                return _log_in_and_share(
                    settings,
                    cache,
                    identity,
                    shared,
                    holder,
                    watermark,
                    share,
                    environ,
                    aws,
                    deadline,
                )
            may_hold_lease = False
            wait = pause * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret
            if share.remaining() <= wait:
                raise SharedCacheUnavailable(
                    f"{holder_now} still held the lease when this command's "
                    f"{share.timeout_seconds:.1f} s share of the deadline ran out"
                )
            log.info(
                "shared-cache",
                f"shared cache: {holder_now} holds the lease; checking again in {wait:.2f} s",
            )
            clock.sleep(wait)
            pause = min(pause * 1.5, MAX_POLL_SECONDS)
    except SharedCacheUnavailable as problem:
        released = shared.release(item_id, holder) if may_hold_lease else True
        log.warning(
            "shared-cache",
            f"shared cache dynamodb://{settings.shared_table} is unavailable ({problem}); "
            + _going_on(released, shared.lease_seconds),
        )
        return None


def _read_checked(
    shared: DynamoDbSharedCache, item_id: str, watermark: IssuedAtWatermark
) -> SharedRead:
    """Read the item; refuse a token older than the newest this machine has seen (a replay)."""
    found = shared.read(item_id)
    if found.entry is not None and found.entry.issued_at < watermark.read():
        return SharedRead(
            None,
            found.lease,
            found.stored,
            refused="it is older than one this machine has already seen there (a replay)",
        )
    return found


def _going_on(released: bool, lease_seconds: float) -> str:
    if released:
        return "going on with the local cache only"
    return (
        "going on with the local cache only; a lease this command may hold could not be given "
        f"back and ends by itself within {lease_seconds:g} s"
    )


def _log_in_and_share(
    settings: Settings,
    cache: FileTokenCache,
    identity: CacheIdentity,
    shared: DynamoDbSharedCache,
    holder: str,
    watermark: IssuedAtWatermark,
    share: DeadlineShare,
    environ: Mapping[str, str],
    aws: AwsClients,
    deadline: Deadline,
) -> Outcome:
    item_id = identity.file_stem
    try:
        with share.paused():  # the login's time is not the shared tier's
            credential = log_in_lazily(settings, shared.clock, deadline, environ, aws)
    except BaseException:
        shared.release(item_id, holder)
        raise
    credential_json = credential.to_json()
    # Locally first: whatever the shared tier does next, the token is kept and printed.
    saved = cache.write(identity, credential_json, credential.expiration, credential.issued_at)
    try:
        version = StoredVersion(credential.expiration, credential.issued_at)
        shared.write(item_id, credential_json, version, holder)
        watermark.raise_to(credential.issued_at)
        log.info("cache", f"cache: saved {saved.path} and the shared item", calls=shared.calls)
    except SharedCacheUnavailable as problem:
        # The login succeeded: the token is good even if the fleet cannot have it.
        released = shared.release(item_id, holder)
        log.warning(
            "shared-cache",
            f"shared cache dynamodb://{shared.table} could not be written ({problem}); the token "
            "is kept in the local cache only"
            + ("" if released else f"; the lease ends by itself within {shared.lease_seconds:g} s"),
        )
    return Outcome(credential_json, saved.path, False, saved.header)
