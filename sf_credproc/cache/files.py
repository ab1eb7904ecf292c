"""The local token cache: one file per identity, written atomically, guarded by a per-entry flock.

Every Salesforce JWT grant is a login (Login History, 3,600 per user per hour), so tokens are kept
and refreshed by the windows of ``refresh.py``: a ``fresh`` token is served; in the advisory window
one process refreshes while the others serve the token they have (a failed refresh keeps it); in
the mandatory window every process waits for the one that logs in. Layout of the cache directory
(0700):

* ``<sha256 of identity>.cred`` (0600): the entry (``disk.py``);
* ``<sha256 of identity>.lock``: ``flock``-ed by the one process refreshing that identity; the kernel
  releases it if the process dies, so a crash never wedges the others;
* ``<crc32>.idx`` (0600): the fast path's indexes (``disk.py``).

Anything unexpected in an entry (corrupt, truncated, unknown version, a credential that does not
match the output contract, not owned by this user, readable or writable by others, a symbolic link,
a FIFO, a device, too large) makes it a miss, and the next write replaces it. What cannot be replaced
safely (a directory where the entry belongs; a lock that is not a regular file) is a configuration
error that names the file, before any login.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

from .. import log
from ..clock import Clock, SystemClock
from ..credential import Credential
from ..deadline import Deadline
from ..errors import ConfigError, TransientError
from .disk import (
    ADVISORY,
    ENTRY_SUFFIX,
    EXPIRED,
    FRESH,
    INDEX_SUFFIX,
    LOCK_SUFFIX,
    TEMPORARY_SUFFIX,
    ensure_private_directory,
    new_entry_header,
    outlives_session,
    parse_index,
    read_private_file,
    this_host,
    write_private_file,
)
from .entry import CachedCredential, decode_entry, encode_entry
from .entry_lock import identity_lock, odd_cache_file
from .events import log_cache_hit, log_outlived, log_still_accepted
from .identity import CacheIdentity
from .port import CacheRequest, LogIn, Outcome
from .refresh import RefreshWindows, may_keep, say_kept

#: Fills the cache with a new token (a login, or a copy from the shared tier). Its argument is a
#: usable token it may hand back instead of waiting for another process that is refreshing.
Fill = Callable[[CachedCredential | None], Outcome]

#: A temporary file younger than this belongs to a write in progress: ``cache clear`` leaves it.
TEMPORARY_GRACE_SECONDS = 60.0


class FileTokenCache:
    """The cache in one directory; a ``TokenCache`` (``obtain``) and the store behind the cache
    commands (``entries``, ``delete``, ``clear``)."""

    def __init__(
        self, directory: str, clock: Clock | None = None, *, host: str | None = None
    ) -> None:
        self.directory = directory
        self.clock = clock or SystemClock()
        #: The host name this cache's jitter is derived from (``disk.jitter_fraction``).
        self.host = host if host is not None else this_host()

    def windows(self, request: CacheRequest) -> RefreshWindows:
        """The refresh windows of the request's identity on this host."""
        return RefreshWindows.of(
            min_ttl_seconds=request.min_ttl_seconds,
            mandatory_ttl_seconds=request.mandatory_ttl_seconds,
            session_ttl_seconds=request.session_ttl_seconds,
            identity_stem=request.identity.file_stem,
            host=self.host,
        )

    def obtain(self, request: CacheRequest, log_in: LogIn) -> Outcome:
        """A kept credential as the refresh windows allow, else one login under the lock, saved."""
        return self.serve_or_fill(
            request, lambda keep: self.save_login(request, log_in, patient=keep is None)
        )

    def serve_or_fill(self, request: CacheRequest, fill: Fill) -> Outcome:
        """kubelogin's flow with botocore's windows: a fresh entry is served; in the advisory
        window the one process that gets the lock at once refreshes, the others serve the entry;
        otherwise take the lock, waiting, look again (another process may have just logged in),
        and only then ``fill`` the cache. So processes that start together cause one login."""
        identity, windows = request.identity, self.windows(request)
        rejected = request.rejected
        if not request.refresh:
            entry = self.read(identity)
            if entry is not None and not (rejected and rejected.names(entry.credential)):
                state = self._state(entry, windows)
                if state == FRESH:
                    log_cache_hit(entry.expiration, self.clock, f"cache: hit {entry.path}")
                    return _served(entry)
                if state == ADVISORY:
                    return self._refresh_in_advisory(request, windows, entry, fill)
        forced = "refresh forced" if request.refresh else "miss"
        log.info("cache", f"cache: {forced}; waiting for the lock")
        with self.lock(identity, request.deadline):
            keep = None
            if not request.refresh:
                entry = self.read(identity)
                if entry is not None and rejected and rejected.names(entry.credential):
                    if not rejected.is_dead(entry.credential):
                        log_still_accepted()
                        return _served(entry)
                    self._drop(entry)
                elif entry is not None:
                    state = self._state(entry, windows)
                    if state == FRESH:
                        log_cache_hit(
                            entry.expiration,
                            self.clock,
                            f"cache: another process just logged in; using its token in {entry.path}",
                        )
                        return _served(entry)
                    keep = entry if state == ADVISORY else None
            return self._fill_or_keep(request, windows, fill, keep)

    def _refresh_in_advisory(
        self, request: CacheRequest, windows: RefreshWindows, entry: CachedCredential, fill: Fill
    ) -> Outcome:
        """Refresh a token in the advisory window without waiting: if another process holds the
        lock, it is refreshing, and this one serves the token it has."""
        with self.lock(request.identity, request.deadline, wait=False) as held:
            if not held:
                log.info(
                    "cache",
                    f"cache: {entry.path} is in the advisory refresh window and another process "
                    "is refreshing it; serving it",
                )
                return _served(entry)
            again = self.read(request.identity)
            if again is not None and again.header != entry.header:
                state = self._state(again, windows)
                if state == FRESH:
                    log_cache_hit(again.expiration, self.clock, "cache: refreshed meanwhile")
                    return _served(again)
                entry = again if state == ADVISORY else entry
            log.info("cache", f"cache: {entry.path} is in the advisory refresh window; refreshing")
            return self._fill_or_keep(request, windows, fill, entry)

    def _fill_or_keep(
        self,
        request: CacheRequest,
        windows: RefreshWindows,
        fill: Fill,
        keep: CachedCredential | None,
    ) -> Outcome:
        """``fill``; when it fails, serve the entry the cache holds then if ``refresh.may_keep``
        allows (the fill may have copied a usable token there from the shared tier)."""
        try:
            return fill(keep)
        except TransientError as error:
            if request.refresh:
                raise
            entry = self.read(request.identity)
            if entry is None or (request.rejected and request.rejected.names(entry.credential)):
                raise
            state = windows.state(entry.expiration, self.clock.time())
            if not may_keep(state, error):
                raise
            say_kept(state, error, entry.credential, self.clock)
            return _served(entry)

    def save_login(self, request: CacheRequest, log_in: LogIn, *, patient: bool = True) -> Outcome:
        """Log in (``patient=False``: one attempt, ``port.LogIn``) and keep the credential."""
        saved = self.write(request.identity, log_in(patient=patient))
        log.info("cache", f"cache: saved {saved.path}")
        return _served(saved)

    def _state(self, entry: CachedCredential, windows: RefreshWindows) -> str:
        """The entry's state (``refresh.RefreshWindows``), saying why a token that has not
        expired is not simply served when it outlives the session."""
        now = self.clock.time()
        state = windows.state(entry.expiration, now)
        if state not in (FRESH, EXPIRED) and outlives_session(
            entry.expiration, now, windows.session_ttl_seconds
        ):
            log_outlived(entry.expiration, windows.session_ttl_seconds)
        return state

    def _drop(self, entry: CachedCredential) -> None:
        """Remove a dead entry, under its lock (the lock file stays: it is held)."""
        self._delete_indexes_of(entry.path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
        log.info(
            "cache", f"cache: Salesforce confirmed the reported token dead; removed {entry.path}"
        )

    def entry_path(self, identity: CacheIdentity) -> str:
        return os.path.join(self.directory, identity.file_stem + ENTRY_SUFFIX)

    def read(self, identity: CacheIdentity) -> CachedCredential | None:
        """The entry for ``identity``; None for a miss (absent, or anything untrustworthy)."""
        path = self.entry_path(identity)
        data = read_private_file(path)
        entry = decode_entry(data, path) if data is not None else None
        if entry is None or entry.identity != identity:
            return None
        return entry

    def write(self, identity: CacheIdentity, credential: Credential) -> CachedCredential:
        """Save a new entry for ``identity``, replacing any other, and return it."""
        ensure_private_directory(self.directory)
        header = new_entry_header(credential.expiration, credential.issued_at)
        data = encode_entry(credential, header, identity)
        name = identity.file_stem + ENTRY_SUFFIX
        try:
            path = write_private_file(self.directory, name, data)
        except IsADirectoryError as error:
            raise odd_cache_file(os.path.join(self.directory, name), "a directory") from error
        except OSError as error:
            raise ConfigError(
                f"cannot write the cache entry in {self.directory} ({error.strerror})",
                hint="Free some space or choose another --cache-dir, or pass --no-cache",
            ) from error
        # Indexes made from the token just replaced would never be served again (their header no
        # longer matches): remove them rather than leave old tokens lying about.
        self._delete_indexes_of(path)
        return CachedCredential(credential, identity, path, header)

    def delete(self, identity: CacheIdentity) -> bool:
        """Remove the entry, its lock file and the fast-path indexes that hold its token."""
        self._delete_indexes_of(self.entry_path(identity))
        removed = False
        for suffix in (ENTRY_SUFFIX, LOCK_SUFFIX):
            path = os.path.join(self.directory, identity.file_stem + suffix)
            try:
                os.unlink(path)
                removed = removed or suffix == ENTRY_SUFFIX
            except FileNotFoundError:
                pass
            except IsADirectoryError as error:
                raise odd_cache_file(path, "a directory") from error
        return removed

    def _delete_indexes_of(self, entry_path: str) -> None:
        try:
            names = [name for name in os.listdir(self.directory) if name.endswith(INDEX_SUFFIX)]
        except OSError:
            return
        for name in names:
            path = os.path.join(self.directory, name)
            data = read_private_file(path)
            record = parse_index(data) if data is not None else None
            if record is None or record.entry_path == entry_path:
                # Best effort: an index that cannot be removed (a directory) is never served.
                with contextlib.suppress(OSError):
                    os.unlink(path)

    def entries(self) -> list[CachedCredential]:
        """Every readable entry, soonest expiration first."""
        try:
            names = sorted(os.listdir(self.directory))
        except OSError:
            return []
        found = []
        for name in names:
            if name.endswith(ENTRY_SUFFIX):
                path = os.path.join(self.directory, name)
                data = read_private_file(path)
                entry = decode_entry(data, path) if data is not None else None
                if entry is not None:
                    found.append(entry)
        return sorted(found, key=lambda entry: entry.expiration)

    def clear(self) -> int:
        """Remove every entry, lock and index file; returns the number of entries removed.

        Another process may be writing meanwhile: a file that is already gone is no error, and a
        recent temporary file is that writer's and is left alone (older ones are crash debris).
        """
        removed = 0
        try:
            names = os.listdir(self.directory)
        except OSError:
            return 0
        for name in names:
            if not name.endswith((ENTRY_SUFFIX, LOCK_SUFFIX, INDEX_SUFFIX, TEMPORARY_SUFFIX)):
                continue
            path = os.path.join(self.directory, name)
            try:
                if name.endswith(TEMPORARY_SUFFIX):
                    age = time.time() - os.lstat(path).st_mtime
                    if age < TEMPORARY_GRACE_SECONDS:
                        continue
                os.unlink(path)
            except FileNotFoundError:
                continue
            except IsADirectoryError as error:
                raise odd_cache_file(path, "a directory") from error
            except OSError as error:
                raise ConfigError(
                    f"cannot remove {path} ({error.strerror})",
                    hint="Check the cache directory's permissions",
                ) from error
            removed += name.endswith(ENTRY_SUFFIX)
        return removed

    def lock(
        self, identity: CacheIdentity, deadline: Deadline, *, wait: bool = True
    ) -> contextlib.AbstractContextManager[bool]:
        """Hold the identity's lock (``entry_lock.py``): yields True when held; with
        ``wait=False``, False at once when another process holds it."""
        return identity_lock(
            self.directory, identity.file_stem, self.entry_path(identity), deadline, wait=wait
        )


def _served(entry: CachedCredential) -> Outcome:
    return Outcome(entry.credential, entry.path, entry.header)
