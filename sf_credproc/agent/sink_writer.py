"""Replace a sink's file atomically: a reader sees the old file or the new one, never a part.

Vault Agent's file sink, step by step: the new content goes into a temporary file in the sink's
own directory (``rename(2)`` is atomic only within one file system), opened
``O_CREAT|O_EXCL|O_NOFOLLOW|O_WRONLY|O_CLOEXEC`` with the sink's mode, so that it is a new file of
ours and never a link planted there; ``fchmod`` sets the mode whatever the umask; the content is
written whole and ``fsync``ed; ``os.replace`` puts it in place of the path in one step (a reader
polling the path never sees an empty or partial file); ``fsync`` of the directory makes the rename
durable. The temporary file is removed on every failure.

``rename(2)`` replaces a symbolic link at the path, never its target: even one planted between the
check and the rename cannot redirect the write.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat

from ..errors import ConfigError
from .sink_spec import sink_problem

_CREATE = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_WRONLY | os.O_CLOEXEC
#: The temporary file's name ends so: ``.NAME.sf-credproc-<random>.tmp``, hidden and ours.
TEMPORARY_SUFFIX = ".tmp"


def _is_temporary_of(name: str, candidate: str) -> bool:
    """True for a name ``temporary_name`` gives a temporary file of sink ``name``."""
    prefix, suffix = f".{name}.sf-credproc-", TEMPORARY_SUFFIX
    middle = candidate[len(prefix) : -len(suffix)]
    return (
        candidate.startswith(prefix)
        and candidate.endswith(suffix)
        and len(middle) == 12
        and all(char in "0123456789abcdef" for char in middle)
    )


def remove_leftovers(path: str) -> int:
    """Remove the temporary files of ``path`` that an agent killed in mid-write (SIGKILL, a power
    cut) left in its directory: regular files named as ``temporary_name`` names them. Returns
    how many."""
    directory, name = os.path.split(path)
    removed = 0
    for candidate in os.listdir(directory):
        if not _is_temporary_of(name, candidate):
            continue
        leftover = os.path.join(directory, candidate)
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(leftover).st_mode):
                os.unlink(leftover)
                removed += 1
    return removed


def temporary_name(path: str) -> str:
    """A new, unguessable name next to ``path`` (``O_EXCL`` refuses one that exists)."""
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.sf-credproc-{secrets.token_hex(6)}{TEMPORARY_SUFFIX}")


def write_atomically(path: str, content: bytes, mode: int) -> None:
    """Put ``content`` at ``path`` with permission bits ``mode``, in one step.

    Raises ``ConfigError`` when the path became something else than a regular file (a symbolic
    link, a directory, a FIFO) and ``OSError`` when the file system refuses (full, read-only).
    """
    problem = sink_problem(path)
    if problem is not None:
        raise ConfigError(problem[0], hint=problem[1])
    temporary = temporary_name(path)
    descriptor = os.open(temporary, _CREATE, mode)
    try:
        try:
            os.fchmod(descriptor, mode)  # the umask narrowed the mode os.open gave
            view = memoryview(content)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        _remove_quietly(temporary)
        raise
    _sync_directory(os.path.dirname(path))


def remove_sink(path: str) -> bool:
    """Remove the file at ``path`` when it is a regular file (never a link or what it points
    at); True when a file was removed."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        os.unlink(path)
    except FileNotFoundError:
        return False
    _sync_directory(os.path.dirname(path))
    return True


def _sync_directory(directory: str) -> None:
    """Make a rename or unlink in ``directory`` durable (``fsync`` of the directory)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return  # a directory we may write but not read: the rename happened, durability aside
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the rename stands
    finally:
        os.close(descriptor)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
