"""One item of the shared tier, read from DynamoDB and trusted in nothing.

Whoever can write the table can put anything in an item: a missing field, a string where a number
belongs, a lease without an end. Each such item is refused here (``SharedItemMalformed``) rather than
raising ``KeyError`` deep in a ``get``. The shape (DynamoDB's typed attribute values, ``{"N": "12"}``):

* ``id`` (S): the SHA-256 of the identity, as the local entry's file name;
* ``ciphertext`` (B), ``expiration`` (N) and ``issued_at`` (N, whole seconds): all three or none;
* ``lease_holder`` (S) and ``lease_expires`` (N): both or neither;
* ``ttl`` (N) and ``written_by`` (S), which nothing reads back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .shared_errors import SharedItemMalformed

CLEAR_HINT = "remove it with 'sf-credproc cache clear' (same options as get)"


@dataclass(frozen=True)
class StoredVersion:
    """The expiration and issue time an item carries (Unix seconds), as stored."""

    expiration: int
    issued_at: int


@dataclass(frozen=True)
class LeaseState:
    """Who holds the lease on an item (if anyone), and until when (Unix seconds)."""

    holder: str | None
    expires: float


def _attribute(item: dict[str, Any], name: str, kind: str) -> Any:
    """The value of attribute ``name`` of DynamoDB type ``kind``; None when absent."""
    if name not in item:
        return None
    value = item[name]
    if not isinstance(value, dict) or set(value) != {kind}:
        raise SharedItemMalformed(f"its {name} is not of type {kind}; {CLEAR_HINT}")
    return value[kind]


def _number(item: dict[str, Any], name: str) -> float | None:
    text = _attribute(item, name, "N")
    if text is None:
        return None
    try:
        number = float(text)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise SharedItemMalformed(f"its {name} is not a finite number; {CLEAR_HINT}")
    return number


def _whole_number(item: dict[str, Any], name: str) -> int | None:
    number = _number(item, name)
    if number is not None and number != int(number):
        raise SharedItemMalformed(f"its {name} is not a whole number of seconds; {CLEAR_HINT}")
    return None if number is None else int(number)


def lease_of(item: dict[str, Any]) -> LeaseState:
    holder = _attribute(item, "lease_holder", "S")
    expires = _number(item, "lease_expires")
    if (holder is None) != (expires is None):
        raise SharedItemMalformed(f"it has half a lease (holder or end missing); {CLEAR_HINT}")
    return LeaseState(holder, expires or 0.0)


def stored_version_of(item: dict[str, Any]) -> StoredVersion | None:
    """The token's version, checked; None for an item that only carries a lease. A token field
    without the others is malformed: it would block the lease without ever being served."""
    ciphertext = _attribute(item, "ciphertext", "B")
    expiration = _whole_number(item, "expiration")
    issued_at = _whole_number(item, "issued_at")
    fields = {"ciphertext": ciphertext, "expiration": expiration, "issued_at": issued_at}
    missing = [name for name, value in fields.items() if value is None]
    if len(missing) == len(fields):
        return None
    if missing:
        raise SharedItemMalformed(f"it lacks {' and '.join(missing)}; {CLEAR_HINT}")
    if (
        not isinstance(ciphertext, bytes)
        or not ciphertext
        or expiration is None
        or issued_at is None
    ):
        raise SharedItemMalformed(f"its ciphertext is empty; {CLEAR_HINT}")
    return StoredVersion(expiration, issued_at)


@dataclass(frozen=True)
class SharedEntry:
    """A decrypted item: its credential line, unchecked (``entry.credential_in`` checks it), and
    the times the encryption context bound to it."""

    credential_line: str
    expiration: int
    issued_at: int

    def __repr__(self) -> str:
        return f"SharedEntry(expiration={self.expiration})"


@dataclass(frozen=True)
class SharedRead:
    """What one read of an item found."""

    #: The decrypted credential; None when there is none, or it must not be served.
    entry: SharedEntry | None
    lease: LeaseState
    #: The stored token's version, when the item holds one (for a conditional replacement).
    stored: StoredVersion | None = None
    #: Why a stored token is refused (it must be replaced, not served); None when it is not.
    refused: str | None = None

    def __repr__(self) -> str:
        return f"SharedRead(entry={self.entry!r}, lease={self.lease!r}, refused={self.refused!r})"
