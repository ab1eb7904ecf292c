"""The shared tier's table in memory, counting what DynamoDB would bill the one hot item for.

``CountingTable`` has the interface of ``DynamoDbSharedCache`` (``cache/shared.py``) that the tiered
cache uses (``read``, ``try_lease``, ``write``, ``release``, ``delete_if_holds``, ``table``,
``calls``, ``lease_seconds``), with the same conditions, evaluated atomically as DynamoDB does. No
encryption: a KMS call is counted and given its latency, and the credential line is kept as is.

Every read and every write *attempt* is counted in the second in which DynamoDB would serve it,
failed conditional writes included (they consume write capacity). The item is under 1 KB (the
credential line and KMS's envelope), so each strongly consistent read is 1 read unit and each
write 1 write unit. Each call takes a simulated latency on the clock; DynamoDB applies it halfway.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sf_credproc.cache.shared_errors import SharedCacheUnavailable, SharedItemMalformed
from sf_credproc.cache.shared_item import LeaseState, SharedEntry, SharedRead, StoredVersion
from sf_credproc.clock import Clock
from sf_credproc.credential import Credential

#: Round trips within a region (a GetItem or UpdateItem; a KMS Encrypt or Decrypt).
DYNAMODB_SECONDS = 0.006
KMS_SECONDS = 0.008
#: DynamoDB's limits for one partition, so for one item: read and write units per second.
READ_LIMIT_PER_SECOND = 3000
WRITE_LIMIT_PER_SECOND = 1000
#: As ``cache/shared.py``: a lease ending later than this past its longest length is tampered with.
CLOCK_SKEW_SECONDS = 5.0


@dataclass
class _Item:
    credential_line: str | None = None
    expiration: int | None = None
    issued_at: int | None = None
    lease_holder: str | None = None
    lease_expires: float | None = None


class CountingTable:
    """One table, its items in a dict; ``reads`` and ``writes`` count calls per whole second."""

    def __init__(self, clock: Clock, *, lease_seconds: float, throttle: bool = False) -> None:
        self.table = "simulated-tokens"
        self.clock = clock
        self.lease_seconds = lease_seconds
        #: Throttle calls beyond the per-partition limits, as DynamoDB does to a hot item; the
        #: tier then raises what ``cache/shared.py`` raises for any AWS error.
        self.throttle = throttle
        self.throttled = 0
        self.calls: dict[str, int] = {}
        self.reads: Counter[int] = Counter()
        self.writes: Counter[int] = Counter()
        self.failed_conditional_writes = 0
        self._items: dict[str, _Item] = {}

    def _dynamodb(self, action: str, before: float = 0.0) -> None:
        """Half the round trip (after ``before`` seconds of other work); then DynamoDB serves the
        call, counted in that second. The caller waits the other half."""
        self.calls[action] = self.calls.get(action, 0) + 1
        self.clock.sleep(before + DYNAMODB_SECONDS / 2)
        second = int(self.clock.time())
        counts, limit = (
            (self.reads, READ_LIMIT_PER_SECOND)
            if action == "get_item"
            else (self.writes, WRITE_LIMIT_PER_SECOND)
        )
        counts[second] += 1
        if self.throttle and counts[second] > limit:
            self.throttled += 1
            self.clock.sleep(DYNAMODB_SECONDS / 2)
            raise SharedCacheUnavailable(f"dynamodb {action} failed (ThrottlingException)")

    def read(self, item_id: str) -> SharedRead:
        self._dynamodb("get_item")
        found = self._items.get(item_id)
        snapshot = _Item(**vars(found)) if found is not None else None
        decrypts = snapshot is not None and snapshot.credential_line is not None
        if decrypts:
            self.calls["decrypt"] = self.calls.get("decrypt", 0) + 1
        # The answer's way back and, for a token, KMS's Decrypt: one wait.
        self.clock.sleep(DYNAMODB_SECONDS / 2 + (KMS_SECONDS if decrypts else 0.0))
        if snapshot is None:
            return SharedRead(None, LeaseState(None, 0.0))
        lease = LeaseState(snapshot.lease_holder, snapshot.lease_expires or 0.0)
        if lease.expires > self.clock.time() + self.lease_seconds + CLOCK_SKEW_SECONDS:
            raise SharedItemMalformed("its lease ends later than any holder may take it")
        if (
            snapshot.credential_line is None
            or snapshot.expiration is None
            or snapshot.issued_at is None
        ):
            return SharedRead(None, lease)
        stored = StoredVersion(snapshot.expiration, snapshot.issued_at)
        entry = SharedEntry(snapshot.credential_line, snapshot.expiration, snapshot.issued_at)
        return SharedRead(entry, lease, stored)

    def try_lease(
        self,
        item_id: str,
        holder: str,
        *,
        fresh_for: float | None,
        replacing: StoredVersion | None = None,
    ) -> bool:
        """``DynamoDbSharedCache.try_lease``: no live lease, and (unless ``fresh_for`` is None) no
        credential fresh for ``fresh_for`` more seconds, except the ``replacing`` one."""
        now = self.clock.time()  # the values of the request are fixed when it is sent
        self._dynamodb("update_item")
        item = self._items.get(item_id) or _Item()
        taken = item.lease_expires is None or item.lease_expires < now
        if taken and fresh_for is not None:
            taken = (
                item.expiration is None
                or item.expiration <= now + fresh_for
                or (
                    replacing is not None
                    and item.expiration == replacing.expiration
                    and item.issued_at == replacing.issued_at
                )
            )
        if taken:
            item.lease_holder, item.lease_expires = holder, now + self.lease_seconds
            self._items[item_id] = item
        else:
            self.failed_conditional_writes += 1
        self.clock.sleep(DYNAMODB_SECONDS / 2)
        return taken

    def write(self, item_id: str, credential: Credential, holder: str) -> None:
        """``DynamoDbSharedCache.write``: encrypt, then replace the item (no lease)."""
        self.calls["encrypt"] = self.calls.get("encrypt", 0) + 1
        self._dynamodb("put_item", before=KMS_SECONDS)
        self._items[item_id] = _Item(
            credential.to_json(), credential.expiration, credential.issued_at
        )
        self.clock.sleep(DYNAMODB_SECONDS / 2)

    def release(self, item_id: str, holder: str) -> bool:
        """``DynamoDbSharedCache.release``: remove the lease if ``holder`` has it; False when the
        call fails (the lease then ends by itself)."""
        try:
            self._dynamodb("update_item")
        except SharedCacheUnavailable:
            return False
        item = self._items.get(item_id)
        if item is not None and item.lease_holder == holder:
            item.lease_holder, item.lease_expires = None, None
        else:
            self.failed_conditional_writes += 1
        self.clock.sleep(DYNAMODB_SECONDS / 2)
        return True

    def delete_if_holds(self, item_id: str, version: StoredVersion) -> bool:
        """``DynamoDbSharedCache.delete_if_holds``: delete if it holds ``version``, unleased."""
        now = self.clock.time()
        self._dynamodb("delete_item")
        item = self._items.get(item_id)
        deleted = (
            item is not None
            and item.expiration == version.expiration
            and item.issued_at == version.issued_at
            and (item.lease_expires is None or item.lease_expires < now)
        )
        if deleted:
            del self._items[item_id]
        else:
            self.failed_conditional_writes += 1
        self.clock.sleep(DYNAMODB_SECONDS / 2)
        return deleted
