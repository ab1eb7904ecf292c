"""Reading and writing the user's own files without trusting what sits at the path.

A path named in a setting (the config file, a ``file:`` key, ``cert --out``) may hold a FIFO, which
blocks ``open()`` until a writer appears; a device such as ``/dev/zero``, which never ends; a
directory; or a symbolic link planted where a temporary file is about to be created. So files are
opened with ``O_NONBLOCK`` (a FIFO opens at once), checked on the opened descriptor to be regular
files, read up to a cap, and written through a fresh ``mkstemp`` name (``O_CREAT | O_EXCL``: never
through an existing link). Callers turn the exceptions into their own errors and exit codes.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile


class NotRegularFileError(OSError):
    """Raised when the path names a directory, FIFO, device or socket instead of a file."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"is {kind}, not a regular file")
        self.kind = kind


class FileTooLargeError(OSError):
    """Raised when the file holds more bytes than its kind of content can need."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"holds {size} bytes, more than the {limit} expected at most")
        self.size = size
        self.limit = limit


def describe_file_type(mode: int) -> str:
    """``a directory``, ``a FIFO``... for a ``st_mode`` that is not a regular file's."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def read_regular_file(path: str, limit_bytes: int) -> bytes:
    """The contents of the regular file at ``path`` (symbolic links followed), at most ``limit_bytes``.

    Raises ``FileNotFoundError``, ``PermissionError`` and other ``OSError``s as ``open`` does, and
    ``NotRegularFileError`` or ``FileTooLargeError``; never blocks on a FIFO or reads a device.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(describe_file_type(info.st_mode))
        if info.st_size > limit_bytes:
            raise FileTooLargeError(info.st_size, limit_bytes)
        chunks: list[bytes] = []
        size = 0
        # The file may grow between fstat and read: stop one byte past the cap regardless.
        while size <= limit_bytes:
            chunk = os.read(fd, limit_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit_bytes:
            raise FileTooLargeError(size, limit_bytes)
        return b"".join(chunks)
    finally:
        os.close(fd)


def replace_public_file(path: str, data: bytes, mode: int = 0o644) -> None:
    """Atomically replace ``path`` with ``data``, readable by others (certificates, CSRs).

    The temporary file gets an unpredictable name from ``mkstemp`` (created with ``O_EXCL``), so a
    symbolic link planted beside ``path`` cannot redirect the write; ``os.replace`` then swaps the
    name itself, replacing a link at ``path`` rather than writing through it.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".part"
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def replaceable_by_others(info: os.stat_result) -> str | None:
    """Why someone other than root or this user could replace the file or directory ``info``
    describes, or None: the rule for code this process loads or runs (a PKCS#11 module, a signer
    plugin), whose replacement would run as the user."""
    if info.st_uid not in (0, os.geteuid()):
        return f"owned by uid {info.st_uid}, neither root nor this user"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "writable by group or others"
    return None
