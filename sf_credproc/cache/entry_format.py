"""The byte layout of a cache entry, owned here for every reader (the file cache, the fast path).

``<sha256 of identity>.cred`` (0600) holds exactly three lines:

* ``sf-credproc-cache/1 <expiration> <issued at> <generation>``: Unix seconds, and 16 random hex
  digits that tell two tokens of one second apart (the fast path's index records this line to
  recognise the token its output was made from);
* the credential JSON line, exactly as ``--format json`` prints it (the output contract);
* the identity as JSON (for ``cache list``).

What the lines mean is checked by ``entry.py``; this module only splits and joins bytes, and
imports only ``os`` and ``zlib``, because the cache-hit fast path uses it.
"""

from __future__ import annotations

import os
import zlib

ENTRY_MAGIC = b"sf-credproc-cache/1"
ENTRY_SUFFIX = ".cred"
LOCK_SUFFIX = ".lock"


class EntryLines:
    """The three lines of an entry, split but not interpreted (a plain class: ``dataclasses``
    costs milliseconds on the cache-hit path)."""

    __slots__ = ("credential_line", "expiration", "header", "identity_line", "issued_at")

    def __init__(
        self, header: bytes, expiration: int, issued_at: int, credential: bytes, identity: bytes
    ) -> None:
        self.header = header
        self.expiration = expiration
        self.issued_at = issued_at
        self.credential_line = credential
        self.identity_line = identity


def new_entry_header(expiration: int, issued_at: int) -> bytes:
    """The first line of a new entry, with a new random generation."""
    return b"%s %d %d %s" % (ENTRY_MAGIC, expiration, issued_at, os.urandom(8).hex().encode())


def join_entry(header: bytes, credential_line: bytes, identity_line: bytes) -> bytes:
    """An entry's bytes: the three lines, each ended by a newline."""
    return b"\n".join([header, credential_line, identity_line, b""])


def split_entry(data: bytes) -> EntryLines | None:
    """The lines of an entry, or None when ``data`` is not laid out as one of this version."""
    # Exactly three complete lines (header, credential, identity): anything else was cut short.
    lines = data.split(b"\n")
    if len(lines) != 4 or lines[3] != b"":
        return None
    fields = lines[0].split(b" ")
    if len(fields) != 4 or fields[0] != ENTRY_MAGIC:
        return None
    if not (fields[1].isdigit() and fields[2].isdigit()):
        return None
    return EntryLines(lines[0], int(fields[1]), int(fields[2]), lines[1], lines[2])


def entry_digest(data: bytes) -> bytes:
    """Names an entry's exact bytes in an index: CRC-32 and length (corruption, not forgery: the
    files are the user's own, 0600 in a 0700 directory)."""
    return b"%08x-%d" % (zlib.crc32(data), len(data))
