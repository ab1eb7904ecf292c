"""The fleet tier of the token cache: one DynamoDB item per identity, the token encrypted by KMS.

Machines that share a table log in once per session between them. The item holds the credential
line encrypted under a symmetric KMS key with an encryption context naming the identity (so a
ciphertext cannot be moved to another item and still decrypt), its expiration, a ``ttl`` attribute
for DynamoDB's Time to Live, and a lease: the holder that is logging in now, and until when.
The lease is taken with a conditional write; a holder that dies leaves a lease that expires and is
taken over. Any failure of this tier raises ``SharedCacheUnavailable``: the caller warns and carries
on with the local cache alone, so the shared tier can never make a working ``get`` fail.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

from .aws import AWS_ERRORS, AwsClients
from .clock import Clock
from .errors import ConfigError

CONTEXT_KEY = "sf-credproc-cache"
#: Expired items linger this long before Time to Live may remove them (it is lazy anyway).
TTL_MARGIN_SECONDS = 3600


class SharedCacheUnavailable(Exception):
    """Raised when the shared tier cannot be used; never shown as a failure of ``get``."""


@dataclass(frozen=True)
class SharedEntry:
    credential_json: str
    expiration: int
    issued_at: int

    def __repr__(self) -> str:
        return f"SharedEntry(expiration={self.expiration})"


@dataclass(frozen=True)
class LeaseState:
    """Who holds the lease on an item (if anyone), and until when (Unix seconds)."""

    holder: str | None
    expires: float


def parse_table(text: str) -> str:
    """The table name in ``dynamodb://TABLE``; ``ValueError`` if it is not one."""
    prefix = "dynamodb://"
    name = text[len(prefix) :] if text.startswith(prefix) else ""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
    if not 3 <= len(name) <= 255 or not set(name) <= allowed:
        raise ValueError(text)
    return name


def new_holder_id() -> str:
    """Names this process in a lease: host, process and a random part."""
    return f"{os.uname().nodename}:{os.getpid()}:{os.urandom(4).hex()}"


class DynamoDbSharedCache:
    """The shared tier on one table, encrypting with one KMS key."""

    def __init__(
        self,
        table: str,
        kms_key: str,
        aws: AwsClients,
        clock: Clock,
        *,
        kms_region: str | None = None,
    ) -> None:
        self.table = table
        self.kms_key = kms_key
        self.kms_region = kms_region
        self._aws = aws
        self._clock = clock
        #: Calls made, by action: for the fleet simulation and ``-v``.
        self.calls: dict[str, int] = {}

    def _call(self, service: str, action: str, **arguments: Any) -> Any:
        self.calls[action] = self.calls.get(action, 0) + 1
        try:
            client = self._aws.client(service, region=self.kms_region if service == "kms" else None)
            return getattr(client, action)(**arguments)
        except ConfigError as error:
            raise SharedCacheUnavailable(error.message) from None
        except AWS_ERRORS as error:
            code = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
            if code == "ConditionalCheckFailedException":
                raise
            raise SharedCacheUnavailable(f"{service} {action} failed ({code})") from None

    def read(self, identity_id: str) -> tuple[SharedEntry | None, LeaseState]:
        """The credential in the item (decrypted), if any, and the state of its lease."""
        item = self._call(
            "dynamodb",
            "get_item",
            TableName=self.table,
            Key={"id": {"S": identity_id}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None, LeaseState(None, 0.0)
        lease = LeaseState(
            item.get("lease_holder", {}).get("S"), float(item.get("lease_expires", {}).get("N", 0))
        )
        if "ciphertext" not in item:
            return None, lease
        plaintext = self._call(
            "kms",
            "decrypt",
            CiphertextBlob=item["ciphertext"]["B"],
            KeyId=self.kms_key,
            EncryptionContext={CONTEXT_KEY: identity_id},
        )["Plaintext"]
        entry = SharedEntry(
            plaintext.decode("utf-8"), int(item["expiration"]["N"]), int(item["issued_at"]["N"])
        )
        return entry, lease

    def try_lease(
        self, identity_id: str, holder: str, seconds: float, *, fresh_for: float | None
    ) -> bool:
        """Take the item's lease if nobody holds a live one, and (unless ``fresh_for`` is None, a
        forced refresh) if the item has no credential fresh for ``fresh_for`` more seconds: a
        credential written since this process last read the item must stop it logging in again.
        True if this process now holds the lease."""
        import botocore.exceptions

        now = self._clock.time()
        condition = "(attribute_not_exists(lease_expires) OR lease_expires < :now)"
        values = {
            ":me": {"S": holder},
            ":until": {"N": f"{now + seconds:.3f}"},
            ":now": {"N": f"{now:.3f}"},
            ":ttl": {"N": str(int(now + seconds + TTL_MARGIN_SECONDS))},
        }
        if fresh_for is not None:
            condition += " AND (attribute_not_exists(expiration) OR expiration <= :fresh)"
            values[":fresh"] = {"N": f"{now + fresh_for:.3f}"}
        try:
            self._call(
                "dynamodb",
                "update_item",
                TableName=self.table,
                Key={"id": {"S": identity_id}},
                UpdateExpression="SET lease_holder = :me, lease_expires = :until, "
                "#ttl = if_not_exists(#ttl, :ttl)",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=values,
            )
        except botocore.exceptions.ClientError:  # ConditionalCheckFailedException: held
            return False
        return True

    def write(
        self, identity_id: str, credential_json: str, expiration: int, issued_at: int, holder: str
    ) -> None:
        """Store the credential, encrypted, and release this holder's lease."""
        ciphertext = self._call(
            "kms",
            "encrypt",
            KeyId=self.kms_key,
            Plaintext=credential_json.encode("utf-8"),
            EncryptionContext={CONTEXT_KEY: identity_id},
        )["CiphertextBlob"]
        self._call(
            "dynamodb",
            "put_item",
            TableName=self.table,
            Item={
                "id": {"S": identity_id},
                "ciphertext": {"B": ciphertext},
                "expiration": {"N": str(expiration)},
                "issued_at": {"N": str(issued_at)},
                "ttl": {"N": str(expiration + TTL_MARGIN_SECONDS)},
                "written_by": {"S": holder},
            },
        )

    def probe_key(self) -> None:
        """Encrypt and decrypt a probe value, as ``write`` and ``read`` would (for ``doctor``)."""
        context = {CONTEXT_KEY: "doctor-probe"}
        sealed = self._call(
            "kms", "encrypt", KeyId=self.kms_key, Plaintext=b"probe", EncryptionContext=context
        )["CiphertextBlob"]
        self._call(
            "kms", "decrypt", CiphertextBlob=sealed, KeyId=self.kms_key, EncryptionContext=context
        )

    def release(self, identity_id: str, holder: str) -> None:
        """Give the lease back after a failed login, so that others need not wait it out."""
        import botocore.exceptions

        # If someone took it over, or the tier is down, the lease expires by itself.
        with contextlib.suppress(botocore.exceptions.ClientError, SharedCacheUnavailable):
            self._call(
                "dynamodb",
                "update_item",
                TableName=self.table,
                Key={"id": {"S": identity_id}},
                UpdateExpression="REMOVE lease_holder, lease_expires",
                ConditionExpression="lease_holder = :me",
                ExpressionAttributeValues={":me": {"S": holder}},
            )
