"""Writing the fast path's index beside the entry it was rendered from (the format: ``disk.py``)."""

from __future__ import annotations

import contextlib
import os

from ..errors import ConfigError
from .disk import (
    IndexRecord,
    encode_index,
    ensure_private_directory,
    entry_digest,
    read_private_file,
    write_private_file,
)
from .entry import decode_entry


def write_index(
    index_path: str,
    key: bytes,
    *,
    entry_path: str,
    entry_header: bytes,
    advisory_seconds: int,
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
            advisory_seconds=advisory_seconds,
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
