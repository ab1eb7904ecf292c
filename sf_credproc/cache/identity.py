"""Who a cached token is for, and the name its files take from that."""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple


class CacheIdentity(NamedTuple):
    """Who a token is for. The key source is not part of it: rotating a key keeps the session."""

    token_endpoint: str
    audience: str
    client_id: str
    username: str

    @property
    def file_stem(self) -> str:
        """The SHA-256 of the identity: the entry's file name and the shared item's id."""
        canonical = json.dumps(
            [self.token_endpoint, self.audience, self.client_id, self.username],
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def as_dict(self) -> dict[str, str]:
        return {
            "token_endpoint": self.token_endpoint,
            "audience": self.audience,
            "client_id": self.client_id,
            "username": self.username,
        }

    def to_json_line(self) -> bytes:
        """The identity line of an entry."""
        return json.dumps(self.as_dict()).encode("utf-8")
