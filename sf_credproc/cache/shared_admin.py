"""``logout`` and ``cache clear`` on the shared tier: read the item's token, delete the item.

A token revoked by ``logout`` must not live on in the table, where the next ``get`` on any machine
would print it; ``cache clear`` must reach the item too, or the next ``get`` copies it straight back.
When the table cannot be reached the command still does its local part, and says loudly that the
item remains (the caller's warning).
"""

from __future__ import annotations

from .. import log
from .deadline_share import DeadlineShare
from .entry import credential_in
from .identity import CacheIdentity
from .shared import DynamoDbSharedCache
from .shared_errors import SharedCacheUnavailable


class SharedItemOfIdentity:
    """One identity's item in the shared tier, whose calls are made within ``share`` (a part of
    the command's deadline; ``compose.shared_item_of`` builds it)."""

    def __init__(
        self, shared: DynamoDbSharedCache, identity: CacheIdentity, share: DeadlineShare
    ) -> None:
        self.share = share
        self._shared = shared
        self._identity = identity
        self._item_id = identity.file_stem
        self.where = f"dynamodb://{self._shared.table}"
        self._read_problem: SharedCacheUnavailable | None = None

    def read_token(self) -> str | None:
        """The access token the item holds, if it holds a readable one; a failure is remembered
        for ``delete_or_warn``. A token that does not decrypt is no one's to revoke."""
        try:
            entry = self._shared.read(self._item_id).entry
        except SharedCacheUnavailable as problem:
            self._read_problem = problem
            return None
        if entry is None:
            return None
        credential = credential_in(
            entry.credential_line,
            expiration=entry.expiration,
            issued_at=entry.issued_at,
            username=self._identity.username,
        )
        if credential is None:
            self._read_problem = SharedCacheUnavailable("its credential is not a credential line")
            return None
        return credential.access_token

    def delete_or_warn(self, username: str) -> str:
        """Delete the item (its token and any lease with it). Returns the words to add to the
        command's status line; when the item remains, logs the warning instead."""
        try:
            self._shared.delete(self._item_id)
        except SharedCacheUnavailable as problem:
            log.warning(
                "shared-cache",
                f"shared cache {self.where} is unavailable ({problem}); its "
                f"item for {username} may not have been deleted (a call that got no answer may "
                "still have reached the table), and the next get on any machine may print "
                "that token: run 'sf-credproc cache clear' with the same options once the table "
                "can be reached",
            )
            return ""
        if self._read_problem is not None:
            log.warning(
                "shared-cache",
                f"shared cache {self.where}: the token in its item could "
                f"not be read to revoke it ({self._read_problem}); the item was deleted",
            )
        return f"; deleted its item in {self.where}"
