"""``TieredTokenCache``: the local files, then the shared tier, in front of the login.

local miss → shared hit → copy to the local cache → done; shared miss → take the fleet-wide lease
(a conditional write) → log in → write the local entry, then the shared item. A process that finds
the lease held waits, polling with backoff, for the holder's token, until the lease expires (the
holder died: take it over) or the tier's share of the deadline is spent.

The tier gets at most half of the deadline (``deadline_share.py``), so a login of this machine's
own always fits after it. Any failure of the tier is one warning, after which the command goes on
as if there were no shared tier; a lease this process may hold is given back on every path.

The refresh windows (``refresh.py``) apply to the item as to a local entry, with this host's
jitter: a process that holds a usable token (the advisory window) never waits for the lease, nor
writes to take it while the item shows someone else's live lease; it serves what it has. A token a
consumer reported rejected, once Salesforce confirms it dead, is deleted from the item with a
conditional delete (only if the item still holds it, and no live lease), so one process logs in.
"""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import log
from ..credential import Credential
from .deadline_share import DeadlineShare
from .disk import ADVISORY, FRESH, outlives_session
from .entry import CachedCredential, credential_in
from .events import log_cache_hit, log_still_accepted
from .files import FileTokenCache
from .identity import CacheIdentity
from .port import CacheRequest, LogIn, Outcome
from .refresh import RefreshWindows
from .shared_errors import SharedCacheUnavailable
from .shared_item import LeaseState, SharedRead, StoredVersion
from .shared_watermark import IssuedAtWatermark

if TYPE_CHECKING:
    from .shared import DynamoDbSharedCache

#: Opens the shared tier for one command, its calls cut to the share given (botocore is loaded
#: then, and only then: a local hit never pays for it).
OpenSharedTier = Callable[[DeadlineShare], "DynamoDbSharedCache"]

FIRST_POLL_SECONDS = 0.1
MAX_POLL_SECONDS = 1.0
#: Kept back from the share when deciding to wait once more: after the wait comes a read and a
#: lease attempt, which must not find the share already spent (the warning then names the holder
#: that kept the lease, rather than a call cut short).
ROUND_RESERVE_SECONDS = 0.5


class TieredTokenCache:
    """A ``TokenCache``: the local cache's entry and flock first; under the flock, the shared
    item and its lease (the fleet-wide lock); the login last, saved to both tiers.

    The shared tier makes its calls within a share of the command's deadline (paused while
    logging in); when it fails, the local cache alone carries on.
    """

    def __init__(self, local: FileTokenCache, open_shared: OpenSharedTier) -> None:
        self.local = local
        self._open_shared = open_shared

    def obtain(self, request: CacheRequest, log_in: LogIn) -> Outcome:
        def fill(keep: CachedCredential | None) -> Outcome:
            share = DeadlineShare(request.deadline, self.local.clock)
            shared = self._open_shared(share)
            round_ = _SharedRound(self.local, shared, share, self.local.windows(request))
            through_shared = round_.obtain(request, log_in, keep)
            if through_shared is not None:
                return through_shared
            if keep is not None:
                # The tier failed (throttled, unreachable): a usable token is at hand, so this
                # machine does not log in alone; it refreshes through the tier next time, or
                # alone in the mandatory window. A throttled table must not multiply logins.
                log.info("cache", f"cache: serving {keep.path}, in the advisory window")
                return Outcome(keep.credential, keep.path, keep.header)
            return self.local.save_login(request, log_in)

        return self.local.serve_or_fill(request, fill)


class _SharedRound:
    """One command's way through the shared tier, under the local lock."""

    def __init__(
        self,
        local: FileTokenCache,
        shared: DynamoDbSharedCache,
        share: DeadlineShare,
        windows: RefreshWindows,
    ) -> None:
        self.local = local
        self.shared = shared
        self.share = share
        self.windows = windows

    def obtain(
        self, request: CacheRequest, log_in: LogIn, keep: CachedCredential | None
    ) -> Outcome | None:
        """The credential by way of the shared tier, or None when that tier is unavailable.
        ``keep``: a usable token (the advisory window) to serve rather than wait for the lease."""
        shared, clock, identity = self.shared, self.local.clock, request.identity
        item_id = identity.file_stem
        watermark = IssuedAtWatermark(self.local.directory, item_id)
        holder = new_holder_id()
        may_hold_lease = False
        try:
            found = SharedRead(None, LeaseState(None, 0.0))
            skip_read = request.refresh
            first_round = True
            pause = FIRST_POLL_SECONDS
            holder_now = "another process"
            refusal_said = False
            outlived = False
            while True:
                if not skip_read:
                    found, credential = _read_checked(shared, identity, watermark)
                    holder_now = found.lease.holder or holder_now
                    found, credential = self._screen_rejected(request, found, credential)
                    expiration = credential.expiration if credential is not None else 0
                    now = clock.time()
                    # An item obtained under a longer --session-ttl is replaced, like a local entry.
                    outlived = outlives_session(expiration, now, request.session_ttl_seconds)
                    state = self.windows.state(expiration, now)
                    if credential is not None and state in (FRESH, ADVISORY):
                        watermark.raise_to(credential.issued_at)
                    if credential is not None and (
                        state == FRESH or (state == ADVISORY and keep is None)
                    ):
                        saved = self.local.write(identity, credential)
                        log.info(
                            "shared-cache",
                            f"shared cache: {state} hit in {shared.table}; copied to {saved.path}",
                            calls=shared.calls,
                        )
                        if state == FRESH:
                            log_cache_hit(credential.expiration, clock, "shared cache: hit")
                            return Outcome(saved.credential, saved.path, saved.header)
                        # In the advisory window: a token to fall back on, and to serve while
                        # another process refreshes it.
                        keep = saved
                    if found.refused and not refusal_said:
                        refusal_said = True
                        log.warning(
                            "shared-cache",
                            f"shared cache dynamodb://{shared.table}: the item for this identity "
                            f"is refused: {found.refused}; logging in to replace it",
                        )
                    if keep is not None and found.lease.holder and found.lease.expires > now:
                        # Someone is refreshing: no write to contend for the lease.
                        return self._serve_kept(keep, holder_now)
                skip_read = False
                # fresh_for=None takes the lease whatever the item holds: a forced refresh, or an
                # item that outlives the current session TTL (the condition would call it fresh).
                forced = (request.refresh and first_round) or outlived
                fresh_for = None if forced else self.windows.advisory_seconds
                first_round = False
                # A write whose answer is lost may still have taken the lease: from here on,
                # every way out gives it back.
                may_hold_lease = True
                replacing = found.stored if found.refused else None
                if shared.try_lease(item_id, holder, fresh_for=fresh_for, replacing=replacing):
                    log.info(
                        "shared-cache",
                        f"shared cache: holding the lease in {shared.table}; logging in",
                    )
                    # One attempt when a usable token backs this refresh (``port.LogIn``).
                    login = functools.partial(log_in, patient=keep is None)
                    return self._log_in_and_share(identity, holder, watermark, login)
                may_hold_lease = False
                if keep is not None:
                    return self._serve_kept(keep, holder_now)
                wait = pause * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret
                if self.share.remaining() <= wait + ROUND_RESERVE_SECONDS:
                    raise SharedCacheUnavailable(
                        f"{holder_now} still held the lease when this command's "
                        f"{self.share.timeout_seconds:.1f} s share of the deadline ran out"
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
                f"shared cache dynamodb://{shared.table} is unavailable ({problem}); "
                + _going_on(released, shared.lease_seconds),
            )
            return None

    def _serve_kept(self, keep: CachedCredential, holder: str) -> Outcome:
        log.info(
            "shared-cache",
            f"shared cache: {holder} is refreshing the token in {self.shared.table}; serving the "
            "one in the advisory window meanwhile",
        )
        return Outcome(keep.credential, keep.path, keep.header)

    def _screen_rejected(
        self, request: CacheRequest, found: SharedRead, credential: Credential | None
    ) -> tuple[SharedRead, Credential | None]:
        """The item as this request may use it: without the token a consumer reported rejected,
        once Salesforce confirms it dead (then deleted from the table, if still there)."""
        rejected = request.rejected
        if credential is None or rejected is None or not rejected.names(credential):
            return found, credential
        if not rejected.is_dead(credential):
            log_still_accepted()
            return found, credential
        if found.stored is not None:
            self._delete_dead(request.identity.file_stem, found.stored)
        return SharedRead(None, found.lease), None

    def _delete_dead(self, item_id: str, stored: StoredVersion) -> None:
        """Delete the item's token, which Salesforce confirmed dead, if the item still holds it."""
        deleted = self.shared.delete_if_holds(item_id, stored)
        log.info(
            "shared-cache",
            f"shared cache: the token reported rejected is dead; "
            f"{'deleted it from' if deleted else 'it was already replaced or being refreshed in'} "
            f"{self.shared.table}",
        )

    def _log_in_and_share(
        self,
        identity: CacheIdentity,
        holder: str,
        watermark: IssuedAtWatermark,
        log_in: Callable[[], Credential],
    ) -> Outcome:
        shared, item_id = self.shared, identity.file_stem
        try:
            with self.share.paused():  # the login's time is not the shared tier's
                credential = log_in()
        except BaseException:
            shared.release(item_id, holder)
            raise
        # Locally first: whatever the shared tier does next, the token is kept and printed.
        saved = self.local.write(identity, credential)
        try:
            shared.write(item_id, credential, holder)
            watermark.raise_to(credential.issued_at)
            log.info("cache", f"cache: saved {saved.path} and the shared item", calls=shared.calls)
        except SharedCacheUnavailable as problem:
            # The login succeeded: the token is good even if the fleet cannot have it.
            released = shared.release(item_id, holder)
            log.warning(
                "shared-cache",
                f"shared cache dynamodb://{shared.table} could not be written ({problem}); the "
                "token is kept in the local cache only"
                + (
                    ""
                    if released
                    else f"; the lease ends by itself within {shared.lease_seconds:g} s"
                ),
            )
        return Outcome(saved.credential, saved.path, saved.header)


def _read_checked(
    shared: DynamoDbSharedCache, identity: CacheIdentity, watermark: IssuedAtWatermark
) -> tuple[SharedRead, Credential | None]:
    """Read the item and check its credential as a local entry's (``entry.credential_in``);
    refuse a token older than the newest this machine has seen (a replay)."""
    found = shared.read(identity.file_stem)
    entry = found.entry
    if entry is None:
        return found, None
    credential = credential_in(
        entry.credential_line,
        expiration=entry.expiration,
        issued_at=entry.issued_at,
        username=identity.username,
    )
    if credential is None:
        refused = "its credential is not a whole credential of the output contract for this user"
    elif entry.issued_at < watermark.read():
        refused = "it is older than one this machine has already seen there (a replay)"
    else:
        return found, credential
    return SharedRead(None, found.lease, found.stored, refused=refused), None


def new_holder_id() -> str:
    """Names this process in a lease: host, process and a random part."""
    return f"{os.uname().nodename}:{os.getpid()}:{os.urandom(4).hex()}"


def _going_on(released: bool, lease_seconds: float) -> str:
    if released:
        return "going on with the local cache only"
    return (
        "going on with the local cache only; a lease this command may hold could not be given "
        f"back and ends by itself within {lease_seconds:g} s"
    )
