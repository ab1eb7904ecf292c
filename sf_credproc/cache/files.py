"""The local token cache: one file per identity, written atomically, guarded by a per-entry flock.

Every Salesforce JWT grant is a login (Login History, 3,600 per user per hour), so tokens are kept
until less than ``--min-ttl`` seconds remain. Layout of the cache directory (0700):

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
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterator
from typing import Any

from .. import log
from ..clock import Clock, SystemClock
from ..credential import Credential, format_rfc3339
from ..deadline import Deadline
from ..errors import ConfigError, TransientError
from ..local_files import describe_file_type
from .disk import (
    ENTRY_SUFFIX,
    INDEX_SUFFIX,
    LOCK_SUFFIX,
    TEMPORARY_SUFFIX,
    IndexRecord,
    encode_index,
    ensure_private_directory,
    entry_digest,
    freshness_state,
    is_fresh,
    new_entry_header,
    outlives_session,
    parse_index,
    read_private_file,
    write_private_file,
)
from .entry import CachedCredential, decode_entry, encode_entry
from .events import log_cache_hit, log_outlived
from .identity import CacheIdentity
from .port import CacheRequest, LogIn, Outcome

#: A temporary file younger than this belongs to a write in progress: ``cache clear`` leaves it.
TEMPORARY_GRACE_SECONDS = 60.0


def _odd_cache_file(path: str, what: str) -> ConfigError:
    return ConfigError(
        f"cache {path} is {what}, where sf-credproc keeps a regular file",
        hint=f"Remove it (rm -r {path}), or choose another --cache-dir",
    )


class FileTokenCache:
    """The cache in one directory; a ``TokenCache`` (``obtain``) and the store behind the cache
    commands (``entries``, ``delete``, ``clear``)."""

    def __init__(self, directory: str, clock: Clock | None = None) -> None:
        self.directory = directory
        self.clock = clock or SystemClock()

    def obtain(self, request: CacheRequest, log_in: LogIn) -> Outcome:
        """A fresh kept credential, else one login under the identity's lock, saved."""
        return self.serve_or_fill(request, lambda: self.save_login(request, log_in))

    def serve_or_fill(self, request: CacheRequest, fill: Callable[[], Outcome]) -> Outcome:
        """kubelogin's flow: a fresh entry is served; otherwise take the identity's lock, look
        again (another process may have just logged in), and only then ``fill`` the cache. So
        processes that start together cause one login between them."""
        identity = request.identity
        if not request.refresh:
            entry = self.read(identity)
            if entry is not None and self._servable(entry, request):
                log_cache_hit(entry.expiration, self.clock, f"cache: hit {entry.path}")
                return Outcome(entry.credential, entry.path, entry.header)
        forced = "refresh forced" if request.refresh else "miss"
        log.info("cache", f"cache: {forced}; waiting for the lock")
        with self.lock(identity, request.deadline):
            if not request.refresh:
                entry = self.read(identity)
                if entry is not None and self._servable(entry, request):
                    log_cache_hit(
                        entry.expiration,
                        self.clock,
                        f"cache: another process just logged in; using its token in {entry.path}",
                    )
                    return Outcome(entry.credential, entry.path, entry.header)
            return fill()

    def save_login(self, request: CacheRequest, log_in: LogIn) -> Outcome:
        """Log in and keep the credential."""
        saved = self.write(request.identity, log_in())
        log.info("cache", f"cache: saved {saved.path}")
        return Outcome(saved.credential, saved.path, saved.header)

    def _servable(self, entry: CachedCredential, request: CacheRequest) -> bool:
        """The freshness rule (``disk.is_fresh``), saying why a token on file is not served."""
        now = self.clock.time()
        if is_fresh(entry.expiration, now, request.min_ttl_seconds, request.session_ttl_seconds):
            return True
        if outlives_session(entry.expiration, now, request.session_ttl_seconds):
            log_outlived(entry.expiration, request.session_ttl_seconds)
        return False

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
            raise _odd_cache_file(os.path.join(self.directory, name), "a directory") from error
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
                raise _odd_cache_file(path, "a directory") from error
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
                raise _odd_cache_file(path, "a directory") from error
            except OSError as error:
                raise ConfigError(
                    f"cannot remove {path} ({error.strerror})",
                    hint="Check the cache directory's permissions",
                ) from error
            removed += name.endswith(ENTRY_SUFFIX)
        return removed

    @contextlib.contextmanager
    def lock(self, identity: CacheIdentity, deadline: Deadline) -> Iterator[None]:
        """Hold the identity's lock: the one process allowed to log in for it right now.

        Checked before any login: a directory where the entry belongs could never be replaced, and
        a lock that is not a regular file (a symbolic link, a FIFO, a device) could not exclude
        anyone; both are configuration errors naming the file.
        """
        ensure_private_directory(self.directory)
        entry = self.entry_path(identity)
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISDIR(os.lstat(entry).st_mode):
                raise _odd_cache_file(entry, "a directory")
        path = os.path.join(self.directory, identity.file_stem + LOCK_SUFFIX)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as error:
            try:
                kind = describe_file_type(os.lstat(path).st_mode)
            except OSError:
                kind = f"unusable ({error.strerror})"
            raise _odd_cache_file(path, kind) from error
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise _odd_cache_file(path, describe_file_type(mode))
            _wait_for_lock(fd, deadline)
            yield
        finally:
            os.close(fd)  # closing releases the flock


def _wait_for_lock(fd: int, deadline: Deadline) -> None:
    # Poll with a non-blocking flock so that the wait can end at the deadline (a blocking flock
    # cannot be given a timeout without signals).
    pause = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        left = deadline.remaining()
        if left <= 0:
            raise TransientError(
                "another sf-credproc process is logging in for this user and did not finish within "
                f"the {deadline.timeout_seconds:g} s deadline",
                hint="Retry later, or raise --timeout",
            )
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.1)


def describe_entry(
    entry: CachedCredential, now: float, min_ttl_seconds: int, session_ttl_seconds: int
) -> dict[str, Any]:
    """What ``cache list`` shows of an entry: never the token."""
    credential = entry.credential
    state = freshness_state(entry.expiration, now, min_ttl_seconds, session_ttl_seconds)
    return {
        "id": entry.identity.file_stem,
        "username": entry.identity.username,
        "client_id": entry.identity.client_id,
        "login_url": entry.identity.token_endpoint.removesuffix("/services/oauth2/token"),
        "audience": entry.identity.audience,
        "instance_url": credential.instance_url,
        "issued_at": format_rfc3339(credential.issued_at),
        "expiration": format_rfc3339(credential.expiration),
        "state": state,
    }


def write_index(
    index_path: str,
    key: bytes,
    *,
    entry_path: str,
    entry_header: bytes,
    min_ttl_seconds: int,
    session_ttl_seconds: int,
    output: bytes,
) -> None:
    """Record for the fast path that invocation ``key`` printed ``output`` from the token in
    ``entry_path`` (``disk.py``). Best effort: the index only saves time.

    Nothing is written outside the entry's own directory, and only for the entry exactly as the
    full reader accepts it now: the fast path serves nothing else, so the two cannot disagree.
    """
    directory = os.path.dirname(index_path)
    if os.path.dirname(os.path.abspath(entry_path)) != os.path.abspath(directory):
        return
    entry = read_private_file(entry_path)
    accepted = decode_entry(entry, entry_path) if entry is not None else None
    if entry is None or accepted is None or accepted.header != entry_header:
        return
    data = encode_index(
        IndexRecord(
            min_ttl_seconds=min_ttl_seconds,
            session_ttl_seconds=session_ttl_seconds,
            entry_path=entry_path,
            entry_header=entry_header,
            entry_digest=entry_digest(entry),
            key=key,
            output=output,
        )
    )
    if data is None:
        return
    with contextlib.suppress(OSError, ConfigError):
        ensure_private_directory(directory)
        write_private_file(directory, os.path.basename(index_path), data)
