"""The cache's private files: read only what is ours and no one else's, write atomically.

Reads open with ``O_NOFOLLOW`` (no symbolic link) and ``O_NONBLOCK`` (a FIFO opens at once instead of
waiting for a writer) and check the opened descriptor, so the file cannot be swapped between check
and read. Writes go through a 0600 ``mkstemp`` file, fsync and ``os.replace`` (botocore's
``JSONFileCache`` does the same, without the read checks), then fsync the directory.

Only ``os`` and ``stat`` are imported at first (not even ``contextlib``): the cache-hit fast path
reads through this module.
"""

from __future__ import annotations

import os
import stat  # already loaded by os: free

#: Entries and indexes are read up to this size. The token endpoint's answer is cut at 256 KiB
#: (exchange.MAX_RESPONSE_BYTES), so every token that can be obtained can also be cached, even in
#: an index of ``--format env`` (which holds the token twice).
MAX_FILE_BYTES = 1024 * 1024
#: The suffix of a temporary file that ``write_private_file`` has not yet renamed into place.
TEMPORARY_SUFFIX = ".part"


def read_private_file(path: str, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """Contents of ``path`` if it is a regular file of ours that no one else can read or write,
    of at most ``limit`` bytes; None otherwise (absent, a link, a FIFO, another owner...)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.getuid()
            or info.st_mode & 0o077
            or info.st_size > limit
        ):
            return None
        # One byte more than fstat saw: a file that grew meanwhile reads as a miss, not a cut.
        data = os.read(fd, info.st_size + 1)
        return data if len(data) == info.st_size else None
    except OSError:
        return None
    finally:
        os.close(fd)


def write_private_file(directory: str, name: str, data: bytes) -> str:
    """Atomically replace ``directory/name`` with ``data``: a 0600 temporary file, fsync, rename.
    Returns the path written."""
    # Not on the cache-hit path, which only reads: contextlib alone costs it milliseconds.
    import contextlib
    import tempfile

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
    """Create ``path`` as 0700 (parents as usual); refuse an existing one that others may write.

    Raises ``ConfigError`` naming the directory and the fix.
    """
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        os.mkdir(path, 0o700)  # the umask can only remove bits: never readable by others
    except FileExistsError:
        pass  # the path exists, or a parent is not a directory: the stat below says which
    except OSError as error:
        raise _unusable_directory(path, error.strerror) from error
    try:
        info = os.stat(path)
    except OSError as error:  # e.g. a parent is a regular file (ENOTDIR)
        raise _unusable_directory(path, error.strerror) from error
    from .directory_rule import directory_refusal  # the write path only, never a cache hit

    refusal = directory_refusal(info)
    if refusal == "type":
        from ..errors import ConfigError
        from ..local_files import describe_file_type

        raise ConfigError(
            f"cache directory {path} is {describe_file_type(info.st_mode)}, not a directory",
            hint="Choose another --cache-dir",
        )
    if refusal is not None:
        from ..errors import ConfigError

        raise ConfigError(
            f"cache directory {path} is not owned by this user or is writable by others",
            hint=f"Run chmod 700 {path}, or choose another --cache-dir",
        )


def _unusable_directory(path: str, reason: str | None) -> Exception:
    from ..errors import ConfigError  # only on failure: the fast path never gets here

    return ConfigError(
        f"cache directory {path} cannot be created ({reason})",
        hint="Choose a writable --cache-dir (SF_CREDPROC_CACHE_DIR), or pass --no-cache",
    )
