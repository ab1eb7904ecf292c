"""A cache entry as typed values: the ``Credential`` it holds, for whom, and where.

The credential line of an entry is printed again, so it must be a whole credential of the output
contract (``Credential.from_document``: every field, of its type; version 1) that agrees with the
entry's header (its times) and identity (its user). An entry that passes nothing less is a miss:
a line such as ``{"Version": 1}`` must never reach a consumer. The shared tier's items are checked
by the same rule (``credential_in``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..credential import Credential
from .disk import join_entry, split_entry
from .identity import CacheIdentity


@dataclass(frozen=True)
class CachedCredential:
    """A cache entry: its credential, whose it is, its path and its first line (which names the
    token for the fast path's index)."""

    credential: Credential
    identity: CacheIdentity
    path: str
    header: bytes

    @property
    def expiration(self) -> int:
        return self.credential.expiration

    def __repr__(self) -> str:
        return f"CachedCredential(identity={self.identity!r}, expiration={self.expiration})"


def credential_in(
    line: str, *, expiration: int, issued_at: int, username: str
) -> Credential | None:
    """The credential in a stored JSON ``line``, if it is a whole one of the output contract for
    ``username`` with these times (from the entry's header, or the shared item's attributes)."""
    try:
        document = json.loads(line)
        credential = Credential.from_document(document, issued_at=issued_at, expiration=expiration)
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        return None
    return credential if credential.username == username else None


def encode_entry(credential: Credential, header: bytes, identity: CacheIdentity) -> bytes:
    """The bytes of a new entry (``disk.py`` lays them out)."""
    return join_entry(header, credential.to_json().encode("utf-8"), identity.to_json_line())


def decode_entry(data: bytes, path: str) -> CachedCredential | None:
    """The entry in ``data``, or None when it is not a well-formed entry of this version."""
    lines = split_entry(data)
    if lines is None:
        return None
    try:
        credential_line = lines.credential_line.decode("utf-8")  # printed: UTF-8, nothing else
        identity_fields = json.loads(lines.identity_line)
        identity = CacheIdentity(**identity_fields)
    except (ValueError, TypeError, RecursionError):
        return None
    if not all(isinstance(v, str) for v in identity.as_dict().values()):
        return None
    credential = credential_in(
        credential_line,
        expiration=lines.expiration,
        issued_at=lines.issued_at,
        username=identity.username,
    )
    if credential is None:
        return None
    return CachedCredential(credential, identity, path, lines.header)
