"""The login-rate cool-down (``cooldown.py``) in the shared tier: one machine's "login rate
exceeded" rests every machine that shares the table.

The record is an item of its own in the token table, ``cooldown-<sha256 of token host and
username>`` (the tokens' items are bare SHA-256 ids, so the two never meet):

* ``began`` and ``ends`` (N, whole Unix seconds), and a ``ttl`` an hour past the end, so DynamoDB
  removes it;
* ``ciphertext`` (B): the two times encrypted under the shared cache's KMS key with an encryption
  context of their own, ``{"sf-credproc-cooldown": "<item id> began=<began> until=<ends>"}``, that
  binds them and the id (AWS KMS, "Encryption context"). Whoever can write the table but not use
  the key can therefore neither make a record nor stretch one: a record that does not decrypt
  under the context its fields give is refused, and ``cooldown.LoginBreaker`` ignores one that ends
  later than now + the cool-down. Deleting records (``cache clear``) needs no key.

Every failure here is ``SharedCacheUnavailable``, and a record that cannot be trusted
``cooldown.CoolDownRecordRefused``: the breaker warns at most, never fails a command.
"""

from __future__ import annotations

from typing import Any

from .cooldown import CoolDown, CoolDownRecordRefused
from .shared import TTL_MARGIN_SECONDS, DynamoDbSharedCache
from .shared_errors import SharedCacheUnavailable

CONTEXT_KEY = "sf-credproc-cooldown"
ITEM_PREFIX = "cooldown-"


def item_id_of(stem: str) -> str:
    return ITEM_PREFIX + stem


def encryption_context(item_id: str, cooldown: CoolDown) -> dict[str, str]:
    """The KMS encryption context of a record: one key, whose value binds the id and both times."""
    return {CONTEXT_KEY: f"{item_id} began={cooldown.began} until={cooldown.ends}"}


def _plaintext(cooldown: CoolDown) -> bytes:
    return b"%d %d" % (cooldown.began, cooldown.ends)


class SharedCoolDowns:
    """The cool-down records of one shared tier (a ``cooldown.SharedCoolDownStore``)."""

    def __init__(self, shared: DynamoDbSharedCache) -> None:
        self._shared = shared
        self.where = f"dynamodb://{shared.table}"

    def read(self, stem: str) -> CoolDown | None:
        """The record, decrypted and checked against its fields; None when there is none."""
        item_id = item_id_of(stem)
        answer = self._shared.call(
            "dynamodb",
            "get_item",
            TableName=self._shared.table,
            Key={"id": {"S": item_id}},
            ConsistentRead=True,
        )
        item = answer.get("Item") if isinstance(answer, dict) else None
        if not item:
            return None
        cooldown = _times_of(item)
        opened = self._shared.call(
            "kms",
            "decrypt",
            refused=CoolDownRecordRefused,
            CiphertextBlob=item["ciphertext"]["B"],
            KeyId=self._shared.kms_key,
            EncryptionContext=encryption_context(item_id, cooldown),
        )
        plaintext = opened.get("Plaintext") if isinstance(opened, dict) else None
        if plaintext != _plaintext(cooldown):
            raise CoolDownRecordRefused("its times do not match what was encrypted")
        return cooldown

    def write(self, stem: str, cooldown: CoolDown) -> None:
        """Store the record, replacing any other (a newer "login rate exceeded" restarts it)."""
        item_id = item_id_of(stem)
        sealed = self._shared.call(
            "kms",
            "encrypt",
            KeyId=self._shared.kms_key,
            Plaintext=_plaintext(cooldown),
            EncryptionContext=encryption_context(item_id, cooldown),
        )
        ciphertext = sealed.get("CiphertextBlob") if isinstance(sealed, dict) else None
        if not isinstance(ciphertext, bytes):
            raise SharedCacheUnavailable("kms Encrypt answered without a ciphertext")
        self._shared.call(
            "dynamodb",
            "put_item",
            TableName=self._shared.table,
            Item={
                "id": {"S": item_id},
                "ciphertext": {"B": ciphertext},
                "began": {"N": str(cooldown.began)},
                "ends": {"N": str(cooldown.ends)},
                "ttl": {"N": str(cooldown.ends + TTL_MARGIN_SECONDS)},
            },
        )

    def delete(self, stem: str) -> bool:
        """Remove the record (``cache clear``): the cool-down ends for the whole fleet. True if
        there was one."""
        answer = self._shared.call(
            "dynamodb",
            "delete_item",
            TableName=self._shared.table,
            Key={"id": {"S": item_id_of(stem)}},
            ReturnValues="ALL_OLD",
        )
        return isinstance(answer, dict) and bool(answer.get("Attributes"))


def _times_of(item: dict[str, Any]) -> CoolDown:
    """The record's times, its fields checked for shape (the ciphertext too);
    ``CoolDownRecordRefused`` when a field is missing or of the wrong type."""
    try:
        began, ends = item["began"]["N"], item["ends"]["N"]
        ciphertext = item["ciphertext"]["B"]
    except (KeyError, TypeError):
        raise CoolDownRecordRefused("it lacks began, ends or ciphertext") from None
    if not (
        isinstance(began, str) and began.isdigit() and isinstance(ends, str) and ends.isdigit()
    ):
        raise CoolDownRecordRefused("its times are not whole seconds")
    if not isinstance(ciphertext, bytes) or not ciphertext:
        raise CoolDownRecordRefused("its ciphertext is empty")
    return CoolDown(int(began), int(ends))
