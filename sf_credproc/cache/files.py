"""The token cache: one file per identity, written atomically, guarded by a per-entry flock.

Every Salesforce JWT grant is a login (Login History, 3,600 per user per hour), so tokens are kept
until less than ``--min-ttl`` seconds remain. Layout of the cache directory (0700):

* ``<sha256 of identity>.cred`` (0600): ``sf-credproc-cache/1 <expiration> <issued at>``, then the
  credential JSON line exactly as printed, then the identity as JSON (for ``cache list``).
* ``<sha256 of identity>.lock``: ``flock``-ed by the one process refreshing that identity; the kernel
  releases it if the process dies, so a crash never wedges the others.

Anything unexpected in an entry (corrupt, truncated, unknown version, a credential that does not
match the output contract, not owned by this user, readable or writable by others, a symbolic link,
a FIFO, a device, too large) makes it a miss, and the next write replaces it. What cannot be replaced
safely (a directory where the entry belongs; a lock that is not a regular file) is a configuration
error that names the file, before any login.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..cli.fast_path import ENTRY_MAGIC, INDEX_SUFFIX, parse_index, read_private_file, split_entry
from ..deadline import Deadline
from ..errors import ConfigError, TransientError
from ..local_files import describe_file_type
from .directory_rule import directory_refusal
from .entry import is_cached_credential
from .freshness import freshness_state, is_fresh

ENTRY_SUFFIX = ".cred"
LOCK_SUFFIX = ".lock"
TEMPORARY_SUFFIX = ".part"
#: A temporary file younger than this belongs to a write in progress: ``cache clear`` leaves it.
TEMPORARY_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class CacheIdentity:
    """Who a token is for. The key source is not part of it: rotating a key keeps the session."""

    token_endpoint: str
    audience: str
    client_id: str
    username: str

    @property
    def file_stem(self) -> str:
        canonical = json.dumps(
            [self.token_endpoint, self.audience, self.client_id, self.username],
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def as_dict(self) -> dict[str, str]:
        return {
            "token_endpoint": self.token_endpoint,
            "audience": self.audience,
            "client_id": self.client_id,
            "username": self.username,
        }


@dataclass(frozen=True)
class CachedCredential:
    """A cache entry: the printed credential line and when it expires (Unix seconds)."""

    credential_json: str
    expiration: int
    issued_at: int
    identity: CacheIdentity
    path: str
    #: The entry's first line (magic, expiration, issue time, generation).
    header: bytes = b""

    def __repr__(self) -> str:
        return f"CachedCredential(identity={self.identity!r}, expiration={self.expiration})"

    def is_fresh(self, now: float, min_ttl_seconds: int, session_ttl_seconds: int) -> bool:
        """True while it may be served: the one rule of ``freshness.is_fresh``."""
        return is_fresh(self.expiration, now, min_ttl_seconds, session_ttl_seconds)


def entry_header(expiration: int, issued_at: int) -> bytes:
    """The first line of a new entry. A random generation tells two tokens of one second apart:
    the fast path's index records the line to recognise the token its output was made from."""
    return b"%s %d %d %s" % (ENTRY_MAGIC, expiration, issued_at, os.urandom(8).hex().encode())


def encode_entry(credential_json: str, header: bytes, identity: CacheIdentity) -> bytes:
    return b"\n".join(
        [
            header,
            credential_json.encode("utf-8"),
            json.dumps(identity.as_dict()).encode("utf-8"),
            b"",
        ]
    )


def decode_entry(data: bytes, path: str) -> CachedCredential | None:
    """The entry in ``data``, or None when it is not a well-formed entry of this version."""
    split = split_entry(data)
    if split is None:
        return None
    header, credential_line, identity_line = split
    expiration, issued_at = int(header[1]), int(header[2])
    try:
        credential_json = credential_line.decode("utf-8")  # what is printed: UTF-8, nothing else
        credential = json.loads(credential_json)
        identity_fields = json.loads(identity_line)
        identity = CacheIdentity(**identity_fields)
    except (ValueError, TypeError):
        return None
    if not all(isinstance(v, str) for v in identity.as_dict().values()):
        return None
    if not is_cached_credential(credential, expiration, issued_at, identity):
        return None
    return CachedCredential(
        credential_json,
        expiration,
        issued_at,
        identity,
        path,
        header=b" ".join(header),
    )


def write_private_file(directory: str, name: str, data: bytes) -> str:
    """Atomically replace ``directory/name`` with ``data``: a 0600 temporary file, fsync, rename."""
    for attempt in (1, 2):
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=TEMPORARY_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as handle:  # mkstemp: 0600, O_EXCL
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            final = os.path.join(directory, name)
            os.replace(temporary, final)
            break
        except FileNotFoundError:
            # ``cache clear --all`` in another process removed the temporary file (or the
            # directory) mid-write: write once more, then let the error speak.
            if attempt == 2:
                raise
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    # Make the rename itself durable.
    with contextlib.suppress(OSError):
        directory_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)
    return final


def ensure_private_directory(path: str) -> None:
    """Create ``path`` as 0700 (parents as usual); refuse an existing one that others may write."""
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        os.mkdir(path, 0o700)  # the umask can only remove bits: never readable by others
    except FileExistsError:
        pass  # the path exists, or a parent is not a directory: the stat below says which
    except OSError as error:
        raise _unusable_directory(path, error.strerror) from None
    try:
        info = os.stat(path)
    except OSError as error:  # e.g. a parent is a regular file (ENOTDIR)
        raise _unusable_directory(path, error.strerror) from None
    refusal = directory_refusal(info)
    if refusal == "type":
        raise ConfigError(
            f"cache directory {path} is {describe_file_type(info.st_mode)}, not a directory",
            hint="Choose another --cache-dir",
        )
    if refusal is not None:
        raise ConfigError(
            f"cache directory {path} is not owned by this user or is writable by others",
            hint=f"Run chmod 700 {path}, or choose another --cache-dir",
        )


def _unusable_directory(path: str, reason: str | None) -> ConfigError:
    return ConfigError(
        f"cache directory {path} cannot be created ({reason})",
        hint="Choose a writable --cache-dir (SF_CREDPROC_CACHE_DIR), or pass --no-cache",
    )


def _odd_cache_file(path: str, what: str) -> ConfigError:
    return ConfigError(
        f"cache {path} is {what}, where sf-credproc keeps a regular file",
        hint=f"Remove it (rm -r {path}), or choose another --cache-dir",
    )


class FileTokenCache:
    """The cache in one directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

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

    def write(
        self, identity: CacheIdentity, credential_json: str, expiration: int, issued_at: int
    ) -> CachedCredential:
        """Save a new entry for ``identity``, replacing any other, and return it."""
        ensure_private_directory(self.directory)
        header = entry_header(expiration, issued_at)
        data = encode_entry(credential_json, header, identity)
        name = identity.file_stem + ENTRY_SUFFIX
        try:
            path = write_private_file(self.directory, name, data)
        except IsADirectoryError:
            raise _odd_cache_file(os.path.join(self.directory, name), "a directory") from None
        except OSError as error:
            raise ConfigError(
                f"cannot write the cache entry in {self.directory} ({error.strerror})",
                hint="Free some space or choose another --cache-dir, or pass --no-cache",
            ) from None
        # Indexes made from the token just replaced would never be served again (their header no
        # longer matches): remove them rather than leave old tokens lying about.
        self._delete_indexes_of(path)
        return CachedCredential(credential_json, expiration, issued_at, identity, path, header)

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
            except IsADirectoryError:
                raise _odd_cache_file(path, "a directory") from None
        return removed

    def _delete_indexes_of(self, entry_path: str) -> None:
        try:
            names = [name for name in os.listdir(self.directory) if name.endswith(INDEX_SUFFIX)]
        except OSError:
            return
        for name in names:
            path = os.path.join(self.directory, name)
            data = read_private_file(path)
            parsed = parse_index(data) if data is not None else None
            if parsed is None or parsed[2] == entry_path:
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
            except IsADirectoryError:
                raise _odd_cache_file(path, "a directory") from None
            except OSError as error:
                raise ConfigError(
                    f"cannot remove {path} ({error.strerror})",
                    hint="Check the cache directory's permissions",
                ) from None
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
            raise _odd_cache_file(path, kind) from None
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
    credential = json.loads(entry.credential_json)
    state = freshness_state(entry.expiration, now, min_ttl_seconds, session_ttl_seconds)
    return {
        "id": entry.identity.file_stem,
        "username": entry.identity.username,
        "client_id": entry.identity.client_id,
        "login_url": entry.identity.token_endpoint.removesuffix("/services/oauth2/token"),
        "audience": entry.identity.audience,
        "instance_url": credential.get("InstanceUrl", ""),
        "issued_at": credential.get("IssuedAt", ""),
        "expiration": credential.get("Expiration", ""),
        "state": state,
    }
