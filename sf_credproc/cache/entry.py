"""What a cache entry must hold before its credential is printed again: the output contract.

The credential line of an entry is printed as it is, so it is checked against the contract of
``schemas/credential-v1.schema.json`` (every field, of its type; version 1) and against the entry's
own header (its times) and identity (its user). An entry that passes nothing less is a miss: a line
such as ``{"Version": 1}`` must never reach a consumer.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .files import CacheIdentity

#: The string fields of the output contract (schemas/credential-v1.schema.json), all required.
_CREDENTIAL_TEXT_FIELDS = (
    "AccessToken",
    "TokenType",
    "InstanceUrl",
    "Id",
    "OrgId",
    "Username",
    "Scope",
    "IssuedAt",
    "Expiration",
)


def is_cached_credential(
    document: Any, expiration: int, issued_at: int, identity: CacheIdentity
) -> bool:
    """True if ``document`` is a whole credential of the output contract, version 1, for
    ``identity`` and with the times of its entry's header: only then may it be printed again."""
    if not isinstance(document, dict) or set(document) != {"Version", *_CREDENTIAL_TEXT_FIELDS}:
        return False
    version = document["Version"]
    if type(version) is not int or version != 1:  # True == 1 in Python: not a version
        return False
    if not all(isinstance(document[name], str) for name in _CREDENTIAL_TEXT_FIELDS):
        return False
    return (
        bool(document["AccessToken"])
        and bool(document["TokenType"])
        and document["InstanceUrl"].startswith(("https://", "http://"))
        and document["Username"] == identity.username
        and document["IssuedAt"] == _rfc3339(issued_at)
        and document["Expiration"] == _rfc3339(expiration)
    )


def _rfc3339(epoch_seconds: int) -> str:
    # As credential.format_rfc3339, without importing the token exchange on the cache-hit path.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))
