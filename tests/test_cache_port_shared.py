"""The shared tier's credential is checked like a local entry's (``entry.credential_in``): an item
that decrypts, but to less than a whole credential of the output contract, is never printed."""

from __future__ import annotations

from pathlib import Path

from conftest import SHARED_TABLE, Aws
from helpers import get_args, run_cli
from shared_tier import items, machine

from sf_credproc.cache.shared import encryption_context
from sf_credproc.cache.shared_item import StoredVersion
from sf_credproc.emulator import SalesforceEmulator


def test_an_item_that_decrypts_to_less_than_a_credential_is_replaced(
    shared: dict[str, str], aws: Aws, org: SalesforceEmulator, key: str, tmp_path: Path
) -> None:
    first = run_cli(get_args(org, key), machine(shared, tmp_path, 0)).credential()["AccessToken"]
    (item,) = items(aws)
    version = StoredVersion(int(item["expiration"]["N"]), int(item["issued_at"]["N"]))
    # Written by someone with the KMS key's rights, under the item's own encryption context.
    item["ciphertext"] = {
        "B": aws.client("kms").encrypt(
            KeyId=shared["SF_CREDPROC_SHARED_CACHE_KEY"],
            Plaintext=b'{"Version": 1}',
            EncryptionContext=encryption_context(item["id"]["S"], version),
        )["CiphertextBlob"]
    }
    aws.client("dynamodb").put_item(TableName=SHARED_TABLE, Item=item)

    run = run_cli(get_args(org, key), machine(shared, tmp_path, 1))
    printed = run.credential()
    assert printed.get("AccessToken") not in (first, None) and printed["Version"] == 1
    assert len(printed) == 10  # a whole credential, not the item's '{"Version": 1}'
    (warning,) = run.stderr.splitlines()
    assert "not a whole credential of the output contract" in warning
    assert "logging in to replace it" in warning
    # ... and replaced: the next machine is served the new token, silently.
    after = run_cli(get_args(org, key), machine(shared, tmp_path, 2))
    assert after.stderr == "" and after.credential() == printed
    assert org.token_request_count == 2
