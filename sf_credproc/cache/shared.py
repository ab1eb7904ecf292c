"""The fleet tier of the token cache: one DynamoDB item per identity, the token encrypted by KMS.

Machines that share a table log in once per session between them. The item holds the credential
line encrypted under a symmetric KMS key, its expiration and issue time, a ``ttl`` attribute for
DynamoDB's Time to Live, and a lease: the holder that is logging in now, and until when. The lease
is taken with a conditional write; a holder that dies leaves a lease that expires and is taken over.

Whoever can write the table but has no KMS rights must not be able to make a machine serve a token
it should not. The encryption context (AWS KMS, "Encryption context") binds the item id, the
expiration and the issue time to the ciphertext: a ciphertext moved to another item, or an item
whose expiration was pushed out, does not decrypt, and is replaced. What remains possible (a
replayed older ciphertext) is checked by the caller against the newest issue time it has seen.

Any failure of this tier (an AWS error of any kind, a hung call, a malformed item) raises
``SharedCacheUnavailable``: the caller warns and carries on with the local cache alone, so the
shared tier can never make a working ``get`` fail.
"""

from __future__ import annotations

from typing import Any

from ..aws import AwsClients
from ..aws_errors import AWS_ERRORS
from ..clock import Clock
from ..credential import Credential
from ..errors import CredProcError
from .shared_errors import SharedCacheUnavailable, SharedItemMalformed
from .shared_item import (
    CLEAR_HINT,
    LeaseState,
    SharedEntry,
    SharedRead,
    StoredVersion,
    lease_of,
    stored_version_of,
)

CONTEXT_KEY = "sf-credproc-cache"
#: Expired items linger this long before Time to Live may remove them (it is lazy anyway).
TTL_MARGIN_SECONDS = 3600
#: Clocks of the machines that share a table may differ by this much: a lease taken on a machine
#: whose clock is ahead must not look tampered with.
CLOCK_SKEW_SECONDS = 5.0


class _ConditionFailed(Exception):
    """Raised when a conditional write finds the item in another state (a live lease)."""


class _Undecryptable(Exception):
    """Raised when KMS refuses a ciphertext under the context the item's fields give."""


def encryption_context(item_id: str, version: StoredVersion) -> dict[str, str]:
    """The KMS encryption context of an item's ciphertext. One key, as the IAM policies allow
    (``kms:EncryptionContextKeys``), whose value binds the id, expiration and issue time."""
    return {CONTEXT_KEY: f"{item_id} expiration={version.expiration} issued_at={version.issued_at}"}


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
        lease_seconds: float = 35.0,
    ) -> None:
        self.table = table
        self.kms_key = kms_key
        self.kms_region = kms_region
        #: How long a lease this command takes lasts; no holder takes a longer one.
        self.lease_seconds = lease_seconds
        self._aws = aws
        self.clock = clock
        #: Calls made, by action: for the fleet simulation and ``-v``.
        self.calls: dict[str, int] = {}

    def _call(self, service: str, action: str, **arguments: Any) -> Any:
        self.calls[action] = self.calls.get(action, 0) + 1
        try:
            client = self._aws.client(service, region=self.kms_region if service == "kms" else None)
            return getattr(client, action)(**arguments)
        except CredProcError as error:  # no region or profile; the tier's share of time ran out
            raise SharedCacheUnavailable(error.message) from error
        except AWS_ERRORS as error:
            # from None: botocore's parameter errors quote the values they were given, and an
            # Encrypt's plaintext is the credential line, token included.
            code = _error_code(error)
            if code == "ConditionalCheckFailedException":
                raise _ConditionFailed from None
            if code == "InvalidCiphertextException":
                raise _Undecryptable from None
            raise SharedCacheUnavailable(f"{service} {action} failed ({code})") from None

    def call(
        self,
        service: str,
        action: str,
        *,
        refused: type[SharedCacheUnavailable] = SharedCacheUnavailable,
        **arguments: Any,
    ) -> Any:
        """One call for another record of this tier (``shared_cooldown.py``): every failure is
        ``SharedCacheUnavailable``; a failed condition or a ciphertext that does not decrypt is
        ``refused`` (a subclass the caller names)."""
        try:
            return self._call(service, action, **arguments)
        except _ConditionFailed:
            raise refused(f"{service} {action}: its condition failed") from None
        except _Undecryptable:
            raise refused(f"{service} {action}: it does not decrypt under its context") from None

    def read(self, item_id: str) -> SharedRead:
        """The credential in the item (decrypted), if any, and the state of its lease."""
        answer = self._call(
            "dynamodb",
            "get_item",
            TableName=self.table,
            Key={"id": {"S": item_id}},
            ConsistentRead=True,
        )
        item = answer.get("Item") if isinstance(answer, dict) else None
        if not item:
            return SharedRead(None, LeaseState(None, 0.0))
        lease = lease_of(item)
        if lease.expires > self.clock.time() + self.lease_seconds + CLOCK_SKEW_SECONDS:
            raise SharedItemMalformed(
                "its lease ends later than any holder may take it: it was tampered with, "
                f"or written with a longer --timeout; {CLEAR_HINT}"
            )
        stored = stored_version_of(item)
        if stored is None:
            return SharedRead(None, lease)
        try:
            answer = self._call(
                "kms",
                "decrypt",
                CiphertextBlob=item["ciphertext"]["B"],
                KeyId=self.kms_key,
                EncryptionContext=encryption_context(item_id, stored),
            )
        except _Undecryptable:
            return SharedRead(
                None,
                lease,
                stored,
                refused="its token does not decrypt with the item's id, expiration and issue time "
                "(written by an earlier version, or altered)",
            )
        try:
            credential_line = answer["Plaintext"].decode("utf-8")
        except (KeyError, TypeError, AttributeError, UnicodeDecodeError):
            # from None: the cause may quote the plaintext, a token.
            raise SharedCacheUnavailable(
                "kms Decrypt answered without a usable plaintext"
            ) from None
        entry = SharedEntry(credential_line, stored.expiration, stored.issued_at)
        return SharedRead(entry, lease, stored)

    def try_lease(
        self,
        item_id: str,
        holder: str,
        *,
        fresh_for: float | None,
        replacing: StoredVersion | None = None,
    ) -> bool:
        """Take the item's lease if nobody holds a live one, and (unless ``fresh_for`` is None, a
        forced refresh) if the item has no credential fresh for ``fresh_for`` more seconds: a
        credential written since this process last read the item must stop it logging in again.
        ``replacing`` names a refused token that does not count as fresh while it is still there.
        True if this process now holds the lease."""
        now = self.clock.time()
        condition = "(attribute_not_exists(lease_expires) OR lease_expires < :now)"
        values = {
            ":me": {"S": holder},
            ":until": {"N": f"{now + self.lease_seconds:.3f}"},
            ":now": {"N": f"{now:.3f}"},
            ":ttl": {"N": str(int(now + self.lease_seconds + TTL_MARGIN_SECONDS))},
        }
        if fresh_for is not None:
            fresh = "attribute_not_exists(expiration) OR expiration <= :fresh"
            values[":fresh"] = {"N": f"{now + fresh_for:.3f}"}
            if replacing is not None:
                fresh += " OR (expiration = :refused_exp AND issued_at = :refused_iat)"
                values[":refused_exp"] = {"N": str(replacing.expiration)}
                values[":refused_iat"] = {"N": str(replacing.issued_at)}
            condition += f" AND ({fresh})"
        try:
            self._call(
                "dynamodb",
                "update_item",
                TableName=self.table,
                Key={"id": {"S": item_id}},
                UpdateExpression="SET lease_holder = :me, lease_expires = :until, "
                "#ttl = if_not_exists(#ttl, :ttl)",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=values,
            )
        except _ConditionFailed:  # held, or someone wrote a fresh credential
            return False
        return True

    def write(self, item_id: str, credential: Credential, holder: str) -> None:
        """Store the credential, encrypted; the new item has no lease, so this releases it."""
        version = StoredVersion(credential.expiration, credential.issued_at)
        answer = self._call(
            "kms",
            "encrypt",
            KeyId=self.kms_key,
            Plaintext=credential.to_json().encode("utf-8"),
            EncryptionContext=encryption_context(item_id, version),
        )
        ciphertext = answer.get("CiphertextBlob") if isinstance(answer, dict) else None
        if not isinstance(ciphertext, bytes):
            raise SharedCacheUnavailable("kms Encrypt answered without a ciphertext")
        self._call(
            "dynamodb",
            "put_item",
            TableName=self.table,
            Item={
                "id": {"S": item_id},
                "ciphertext": {"B": ciphertext},
                "expiration": {"N": str(version.expiration)},
                "issued_at": {"N": str(version.issued_at)},
                "ttl": {"N": str(version.expiration + TTL_MARGIN_SECONDS)},
                "written_by": {"S": holder},
            },
        )

    def delete(self, item_id: str) -> None:
        """Remove the item, token and lease alone (``logout`` and ``cache clear``)."""
        self._call("dynamodb", "delete_item", TableName=self.table, Key={"id": {"S": item_id}})

    def delete_if_holds(self, item_id: str, version: StoredVersion) -> bool:
        """Delete the item if it still holds the token of ``version`` and no live lease: a token
        confirmed dead, that no one has replaced or begun to. True if this call deleted it."""
        now = self.clock.time()
        try:
            self._call(
                "dynamodb",
                "delete_item",
                TableName=self.table,
                Key={"id": {"S": item_id}},
                ConditionExpression="expiration = :exp AND issued_at = :iat AND "
                "(attribute_not_exists(lease_expires) OR lease_expires < :now)",
                ExpressionAttributeValues={
                    ":exp": {"N": str(version.expiration)},
                    ":iat": {"N": str(version.issued_at)},
                    ":now": {"N": f"{now:.3f}"},
                },
            )
        except _ConditionFailed:
            return False
        return True

    def probe_key(self) -> None:
        """Encrypt and decrypt a probe value, as ``write`` and ``read`` would (for ``doctor``)."""
        context = {CONTEXT_KEY: "doctor-probe"}
        answer = self._call(
            "kms", "encrypt", KeyId=self.kms_key, Plaintext=b"probe", EncryptionContext=context
        )
        sealed = answer.get("CiphertextBlob") if isinstance(answer, dict) else None
        if not isinstance(sealed, bytes):
            raise SharedCacheUnavailable("kms Encrypt answered without a ciphertext")
        try:
            self._call(
                "kms",
                "decrypt",
                CiphertextBlob=sealed,
                KeyId=self.kms_key,
                EncryptionContext=context,
            )
        except _Undecryptable as error:
            raise SharedCacheUnavailable("kms Decrypt refused what Encrypt just made") from error

    def release(self, item_id: str, holder: str) -> bool:
        """Give the lease back (if this holder has it), so that others need not wait it out.
        Also called when it is unknown whether the lease was taken: a write whose answer was lost.
        False when it could not be given back; it then expires by itself."""
        try:
            self._call(
                "dynamodb",
                "update_item",
                TableName=self.table,
                Key={"id": {"S": item_id}},
                UpdateExpression="REMOVE lease_holder, lease_expires",
                ConditionExpression="lease_holder = :me",
                ExpressionAttributeValues={":me": {"S": holder}},
            )
        except _ConditionFailed:  # not ours (never taken, or taken over): nothing to give back
            return True
        except SharedCacheUnavailable:
            return False
        return True


def _error_code(error: BaseException) -> str:
    """The AWS error code of a botocore exception. Timeouts and dropped connections carry
    ``response = None``, so nothing about its shape is assumed."""
    response = getattr(error, "response", None)
    details = response.get("Error") if isinstance(response, dict) else None
    code = details.get("Code") if isinstance(details, dict) else None
    return str(code) if code else type(error).__name__
