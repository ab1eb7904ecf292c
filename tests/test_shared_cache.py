"""The shared (DynamoDB) tier against moto's server: one login for a whole fleet."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import SHARED_TABLE, Aws
from faulty_emulator import CannedResponse, FaultyEmulator
from helpers import EXE, Run, assert_no_leaks, get_args, run_cli
from shared_tier import items, machine


def test_miss_then_a_shared_hit_on_another_machine(
    shared: dict[str, str], aws: Aws, org: FaultyEmulator, key: str, tmp_path: Path
) -> None:
    first = run_cli(get_args(org, key), machine(shared, tmp_path, 1)).credential()
    assert org.token_request_count == 1
    (item,) = items(aws)
    assert int(item["ttl"]["N"]) > time.time()
    assert int(item["expiration"]["N"]) == int(item["ttl"]["N"]) - 3600

    org.canned_responses.extend([CannedResponse(503, b"down")] * 4)  # Salesforce is down now
    second_machine = machine(shared, tmp_path, 2)
    assert run_cli(get_args(org, key), second_machine).credential() == first
    assert org.token_request_count == 1
    # ... and copied to the second machine's local cache: the next call needs no AWS at all.
    second_machine["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    assert run_cli(get_args(org, key, "--timeout", "9"), second_machine).credential() == first


def test_tokens_at_rest_are_encrypted_and_bound_to_their_item(
    shared: dict[str, str], aws: Aws, org: FaultyEmulator, key: str, tmp_path: Path
) -> None:
    token = run_cli(get_args(org, key), machine(shared, tmp_path, 1)).credential()["AccessToken"]
    scan = json.dumps(items(aws), default=repr)
    assert token not in scan and token.split("!")[1][:16] not in scan
    (item,) = items(aws)
    kms = aws.client("kms")
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(
            CiphertextBlob=item["ciphertext"]["B"], EncryptionContext={"sf-credproc-cache": "other"}
        )
    bound = (
        f"{item['id']['S']} expiration={item['expiration']['N']} issued_at={item['issued_at']['N']}"
    )
    plain = kms.decrypt(
        CiphertextBlob=item["ciphertext"]["B"], EncryptionContext={"sf-credproc-cache": bound}
    )
    assert json.loads(plain["Plaintext"])["AccessToken"] == token
    for forged in ("expiration", "issued_at"):  # the item's fields are bound too
        with pytest.raises(kms.exceptions.InvalidCiphertextException):
            kms.decrypt(
                CiphertextBlob=item["ciphertext"]["B"],
                EncryptionContext={
                    "sf-credproc-cache": bound.replace(
                        f"{forged}={item[forged]['N']}", f"{forged}={int(item[forged]['N']) + 1}"
                    )
                },
            )


def test_a_fleet_logs_in_once(
    shared: dict[str, str], org: FaultyEmulator, key: str, tmp_path: Path
) -> None:
    processes = [
        subprocess.Popen(
            [str(EXE), *get_args(org, key)],
            env=machine(shared, tmp_path, number // 4),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in range(16)  # 4 machines x 4 processes
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0] * 16, outputs
    assert [err for _, err in outputs if err] == []
    assert len({json.loads(out)["AccessToken"] for out, _ in outputs}) == 1
    assert org.token_request_count == 1


def test_a_dead_lease_holder_is_taken_over(
    shared: dict[str, str], aws: Aws, org: FaultyEmulator, key: str, tmp_path: Path
) -> None:
    """A holder killed mid-login leaves its lease behind; the next machine waits while the lease
    lives, and once it has expired takes it over and logs in.

    Deterministic by ordering, not by timing (a busy machine broke every timing this test had):
    the holder's own deadline is far away, so it cannot give the lease back before it is killed;
    the lease then lives until the waiter has been seen waiting on it, and only then is it made
    to expire (the table is the clock this protocol reads). Both use the same --timeout, as a
    fleet should: a lease longer than the reader's --timeout + 10 s would be taken as tampered.
    """
    org.canned_responses.append(CannedResponse(0, b"", delay_seconds=60))  # the login hangs
    holder = subprocess.Popen(
        [str(EXE), *get_args(org, key, "--timeout", "120")],
        env=machine(shared, tmp_path, 1),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while org.token_request_count < 1 and time.monotonic() < deadline:
        time.sleep(0.02)  # until the holder holds the lease and is in the middle of logging in
    assert org.token_request_count == 1, "the holder never reached Salesforce"
    holder.send_signal(signal.SIGKILL)  # dies holding the lease: no clean-up at all
    holder.wait(timeout=10)
    (item,) = items(aws)
    assert float(item["lease_expires"]["N"]) > time.time() + 60  # still alive for a long while

    waiter = subprocess.Popen(
        [str(EXE), *get_args(org, key, "--timeout", "120", "-v")],
        env=machine(shared, tmp_path, 2),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert waiter.stderr is not None
    seen: list[str] = []
    killer = threading.Timer(120, waiter.kill)  # a waiter that never waits fails, not hangs
    killer.start()
    try:
        while not seen or "holds the lease" not in seen[-1]:
            line = waiter.stderr.readline()
            assert line, "".join(seen)
            seen.append(line)
    finally:
        killer.cancel()
    assert org.token_request_count == 1  # nobody logged in while the lease lived
    aws.client("dynamodb").update_item(
        TableName=SHARED_TABLE,
        Key={"id": item["id"]},
        UpdateExpression="SET lease_expires = :ended",
        ConditionExpression="lease_holder = :dead",
        ExpressionAttributeValues={
            ":ended": {"N": f"{time.time() - 1:.3f}"},
            ":dead": item["lease_holder"],
        },
    )
    stdout, rest = waiter.communicate(timeout=120)
    run = Run(waiter.returncode, stdout, "".join(seen) + rest)
    assert_no_leaks(run)
    assert run.credential()["AccessToken"] in org.sessions
    assert "holding the lease" in rest  # it took the expired lease over and logged in itself
    assert org.token_request_count == 2


@pytest.mark.parametrize("problem", ["table missing", "access denied", "unknown KMS key"])
def test_a_broken_shared_tier_only_warns(
    problem: str,
    shared: dict[str, str],
    aws: Aws,
    org: FaultyEmulator,
    key: str,
    tmp_path: Path,
) -> None:
    env = machine(shared, tmp_path, 1)
    if problem == "table missing":
        env["SF_CREDPROC_SHARED_CACHE"] = "dynamodb://no-such-table"
    elif problem == "unknown KMS key":
        env["SF_CREDPROC_SHARED_CACHE_KEY"] = "alias/no-such-key"
    else:
        aws.run_as(env, actions=["kms:*"])
    run = run_cli(get_args(org, key), env)
    aws.set_iam_enforcement(False)
    assert run.credential()["AccessToken"] in org.sessions
    (warning,) = run.stderr.splitlines()
    assert warning.startswith("sf-credproc: warning: shared cache dynamodb://")
    assert "local cache only" in warning
    assert org.token_request_count == 1


def test_refresh_replaces_the_shared_item(
    shared: dict[str, str], aws: Aws, org: FaultyEmulator, key: str, tmp_path: Path
) -> None:
    first = run_cli(get_args(org, key), machine(shared, tmp_path, 1)).credential()
    refreshed = run_cli(get_args(org, key, "--refresh"), machine(shared, tmp_path, 2)).credential()
    assert refreshed["AccessToken"] != first["AccessToken"]
    third = run_cli(get_args(org, key), machine(shared, tmp_path, 3)).credential()
    assert third["AccessToken"] == refreshed["AccessToken"]
    assert "lease_holder" not in items(aws)[0]  # the lease was released


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        ({"SF_CREDPROC_SHARED_CACHE": "redis://x"}, ("is not dynamodb://TABLE",)),
        (
            {"SF_CREDPROC_SHARED_CACHE": "dynamodb://ok-table", "SF_CREDPROC_SHARED_CACHE_KEY": ""},
            ("needs --shared-cache-key",),
        ),
        (
            {
                "SF_CREDPROC_SHARED_CACHE": "dynamodb://ok-table",
                "SF_CREDPROC_SHARED_CACHE_KEY": "not a key",
            },
            ("KMS key",),
        ),
    ],
)
def test_shared_cache_settings(
    extra: dict[str, str],
    needles: tuple[str, ...],
    org: FaultyEmulator,
    env: dict[str, str],
    key: str,
) -> None:
    run_cli(get_args(org, key), {**env, **extra}).assert_failed(2, *needles)


def test_doctor_checks_the_shared_cache(
    shared: dict[str, str], aws: Aws, org: FaultyEmulator, key: str, tmp_path: Path
) -> None:
    env = machine(shared, tmp_path, 1)
    run = run_cli(["doctor", *get_args(org, key)[1:], "--json"], env)
    checks = {c["name"]: c for c in json.loads(run.stdout)["checks"]}
    assert run.code == 0, run.stdout
    assert checks["shared cache"]["status"] == "ok"
    assert "the key encrypts and decrypts" in checks["shared cache"]["detail"]
    env["SF_CREDPROC_SHARED_CACHE"] = "dynamodb://no-such-table"
    run = run_cli(["doctor", *get_args(org, key)[1:], "--json"], env)
    checks = {c["name"]: c for c in json.loads(run.stdout)["checks"]}
    assert run.code == 3
    assert checks["shared cache"]["status"] == "FAILED"
    assert "ResourceNotFoundException" in checks["shared cache"]["detail"]
    assert "iam/shared-cache-table.json" in checks["shared cache"]["fix"]
