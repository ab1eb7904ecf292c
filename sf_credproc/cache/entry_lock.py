"""The per-identity lock of the local cache: ``<sha256 of identity>.lock``, ``flock``-ed by the one
process refreshing that identity. The kernel releases it when the process dies, so a crash never
wedges the others (no PID files). Waiting polls a non-blocking ``flock`` so that it can end at
the command's deadline; ``wait=False`` tries once (the advisory window: serve rather than wait).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Iterator

from ..deadline import Deadline
from ..errors import ConfigError, TransientError
from ..local_files import describe_file_type
from .disk import LOCK_SUFFIX, ensure_private_directory


def odd_cache_file(path: str, what: str) -> ConfigError:
    return ConfigError(
        f"cache {path} is {what}, where sf-credproc keeps a regular file",
        hint=f"Remove it (rm -r {path}), or choose another --cache-dir",
    )


@contextlib.contextmanager
def identity_lock(
    directory: str, stem: str, entry_path: str, deadline: Deadline, *, wait: bool = True
) -> Iterator[bool]:
    """Hold the identity's lock: the one process allowed to log in for it right now. Yields
    True when held; with ``wait=False``, False at once when another process holds it.

    Checked before any login: a directory where the entry belongs could never be replaced, and
    a lock that is not a regular file (a symbolic link, a FIFO, a device) could not exclude
    anyone; both are configuration errors naming the file.
    """
    ensure_private_directory(directory)
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(entry_path).st_mode):
            raise odd_cache_file(entry_path, "a directory")
    path = os.path.join(directory, stem + LOCK_SUFFIX)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as error:
        try:
            kind = describe_file_type(os.lstat(path).st_mode)
        except OSError:
            kind = f"unusable ({error.strerror})"
        raise odd_cache_file(path, kind) from error
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise odd_cache_file(path, describe_file_type(mode))
        if wait:
            _wait_for_lock(fd, deadline)
            yield True
        else:
            yield _try_lock(fd)
    finally:
        os.close(fd)  # closing releases the flock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


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
