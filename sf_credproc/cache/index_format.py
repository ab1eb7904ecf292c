"""The fast path's index: what one exact ``get`` invocation printed, for one token.

An index file (``<crc32 of the invocation key>.idx``, 0600, beside the entries) is one header line
of tab-separated fields, then the invocation key and the output, concatenated::

    sf-credproc-index/3 <min ttl> <session ttl> <entry path> <entry header> <entry digest> <key length>

The output is served again only while the entry at that path is byte-identical to the one the
full reader accepted when the index was written (same digest, same header: the very token the
output was rendered from) and fresh by the one rule of ``freshness.py``.

Imports only ``os`` and this package's import-free modules: the cache-hit fast path uses it.
"""

from __future__ import annotations

import os

from .entry_format import entry_digest, split_entry
from .freshness import is_fresh
from .private_files import read_private_file

INDEX_MAGIC = b"sf-credproc-index/3"
INDEX_SUFFIX = ".idx"


class IndexRecord:
    """The fields of an index (a plain class: ``dataclasses`` costs milliseconds at start)."""

    __slots__ = (
        "entry_digest",
        "entry_header",
        "entry_path",
        "key",
        "min_ttl_seconds",
        "output",
        "session_ttl_seconds",
    )

    def __init__(
        self,
        *,
        min_ttl_seconds: int,
        session_ttl_seconds: int,
        entry_path: str,
        entry_header: bytes,
        entry_digest: bytes,
        key: bytes,
        output: bytes,
    ) -> None:
        self.min_ttl_seconds = min_ttl_seconds
        self.session_ttl_seconds = session_ttl_seconds
        self.entry_path = entry_path
        self.entry_header = entry_header
        self.entry_digest = entry_digest
        self.key = key
        self.output = output


def parse_index(data: bytes) -> IndexRecord | None:
    """The record in ``data``, or None when it is not an index of this version."""
    header, newline, body = data.partition(b"\n")
    fields = header.split(b"\t")
    if not newline or len(fields) != 7 or fields[0] != INDEX_MAGIC:
        return None
    try:
        min_ttl, session_ttl, key_length = int(fields[1]), int(fields[2]), int(fields[6])
    except ValueError:
        return None
    if not 0 <= key_length <= len(body):
        return None
    return IndexRecord(
        min_ttl_seconds=min_ttl,
        session_ttl_seconds=session_ttl,
        entry_path=os.fsdecode(fields[3]),
        entry_header=fields[4],
        entry_digest=fields[5],
        key=body[:key_length],
        output=body[key_length:],
    )


def encode_index(record: IndexRecord) -> bytes | None:
    """The bytes of ``record``; None when a field would break the header line (a newline in the
    entry path)."""
    fields = [
        INDEX_MAGIC,
        b"%d" % record.min_ttl_seconds,
        b"%d" % record.session_ttl_seconds,
        os.fsencode(record.entry_path),
        record.entry_header,
        record.entry_digest,
        b"%d" % len(record.key),
    ]
    header = b"\t".join(fields)
    if b"\n" in header:
        return None
    return header + b"\n" + record.key + record.output


def indexed_output(index_path: str, key: bytes, now: float) -> bytes | None:
    """The output recorded at ``index_path`` for invocation ``key``, if it may be printed at
    ``now``; None sends the invocation to the full command."""
    data = read_private_file(index_path)
    record = parse_index(data) if data is not None else None
    if record is None or record.key != key or not record.output:
        return None
    entry = read_private_file(record.entry_path)
    if entry is None or entry_digest(entry) != record.entry_digest:
        # Changed since the full reader accepted it and this index was made: let it judge again.
        return None
    lines = split_entry(entry)
    # The output was rendered from this very token: an entry refreshed since then (by another
    # invocation) has another header, and the full command renders the new token.
    if lines is None or lines.header != record.entry_header:
        return None
    if not is_fresh(lines.expiration, now, record.min_ttl_seconds, record.session_ttl_seconds):
        return None
    return record.output
