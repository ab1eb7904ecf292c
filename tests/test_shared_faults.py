"""The shared tier under faults: every failure of DynamoDB or KMS is one warning, never a failed
``get``; the fresh token is kept locally; no lease is left for the next machine to wait out.

A fault proxy (tests/aws_fault_proxy.py) sits between the command and moto's server: a *reset*
drops the connection before the call reaches moto (persistently: the tier is down for this
machine); a *hang* forwards the call, so its effect happens, and never answers (once: the worst
case for the lease, taken or written without the caller knowing).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from aws_fault_proxy import AwsFaultProxy
from conftest import Aws
from faulty_emulator import CannedResponse, FaultyEmulator
from helpers import get_args, run_cli, run_timed
from shared_tier import items, local_entries
from shared_tier import machine as shared_machine

from sf_credproc.cache.tiered import MAX_POLL_SECONDS, ROUND_RESERVE_SECONDS

#: Every command here runs with this deadline. The tier gets half of it, which must hold all of its
#: healthy round trips to moto (an in-process server sharing the test's CPU) on a loaded machine:
#: with 10 s, a 5 s share ran out before a test's fault was reached, or on a healthy machine.
TIMEOUT = 40.0
#: The lease a machine takes lasts --timeout + 5 s: a machine that waited one out took longer.
LEASE_SECONDS = TIMEOUT + 5
#: The watchdog ends a command at --timeout + 0.5 s (exit 5: no credential, the test fails); a
#: command that succeeds took at most that plus what runs before its deadline starts (parsing the
#: command line) and the waits its clock skipped: a quarter of the deadline is ample for both.
WITHIN_DEADLINE = TIMEOUT * 1.25

ACTIONS = [
    ("GetItem", "DynamoDB_20120810.GetItem"),
    ("UpdateItem", "DynamoDB_20120810.UpdateItem"),
    ("KMS Encrypt", "TrentService.Encrypt"),
    ("PutItem", "DynamoDB_20120810.PutItem"),
    ("KMS Decrypt", "TrentService.Decrypt"),
]


def machine(env: dict[str, str], tmp_path: Path, number: int) -> dict[str, str]:
    """``shared_tier.machine``, whose commands (setups included) all have ``TIMEOUT``."""
    return {**shared_machine(env, tmp_path, number), "SF_CREDPROC_TIMEOUT": f"{TIMEOUT:g}"}


def timed_get(
    org: FaultyEmulator, key: str, env: dict[str, str], *extra: str
) -> tuple[float, str, str]:
    """Run ``get``; its duration as the command saw it (waits on its clock included), the token
    printed and stderr (asserting exit 0)."""
    run, elapsed = run_timed(get_args(org, key, "--timeout", f"{TIMEOUT:g}", *extra), env)
    return elapsed, run.credential()["AccessToken"], run.stderr


@pytest.mark.parametrize("fault", ["reset", "hang"])
@pytest.mark.parametrize(("action", "target"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_a_shared_tier_fault_is_one_warning(
    action: str,
    target: str,
    fault: str,
    shared: dict[str, str],
    aws: Aws,
    aws_fault_proxy: AwsFaultProxy,
    org: FaultyEmulator,
    key: str,
    tmp_path: Path,
) -> None:
    if action == "KMS Decrypt":  # only an item with a token is decrypted: another machine's
        run_cli(get_args(org, key), machine(shared, tmp_path, 0)).credential()
    first = {**machine(shared, tmp_path, 1), "AWS_ENDPOINT_URL": aws_fault_proxy.url}
    if fault == "reset":
        aws_fault_proxy.reset(target)
    else:
        aws_fault_proxy.hang(target, times=1)

    elapsed, token, stderr = timed_get(org, key, first)
    assert target in aws_fault_proxy.seen
    assert token in org.sessions and elapsed < WITHIN_DEADLINE
    (warning,) = stderr.splitlines()
    assert warning.startswith("sf-credproc: warning: shared cache dynamodb://"), warning
    assert "local cache only" in warning
    assert all("lease_holder" not in item for item in items(aws))  # given back, or never taken
    assert len(local_entries(first)) == 1

    # The token is in this machine's cache: with Salesforce and AWS both gone, it is still served.
    org.canned_responses.extend([CannedResponse(503, b"down")] * 8)
    offline = {**first, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    assert timed_get(org, key, offline)[1] == token
    org.canned_responses.clear()

    # The next machine finds no stale lease to wait out (with -v it would say it waits).
    aws_fault_proxy.faults.clear()
    elapsed, _, stderr = timed_get(org, key, machine(shared, tmp_path, 2), "-v")
    assert "holds the lease" not in stderr and "warning:" not in stderr, stderr
    assert elapsed < LEASE_SECONDS


def test_a_lease_held_past_the_tiers_share_leaves_time_to_log_in(
    shared: dict[str, str], aws: Aws, org: FaultyEmulator, key: str, tmp_path: Path
) -> None:
    """A live holder that never writes: wait at most half the deadline, then log in here."""
    env = machine(shared, tmp_path, 1)
    identity_item = _item_id(org, key, shared, tmp_path, aws)
    now = time.time()
    aws.client("dynamodb").put_item(
        TableName="sf-credproc-tokens",
        Item={
            "id": {"S": identity_item},
            "lease_holder": {"S": "slow-host:1:ab"},
            "lease_expires": {"N": f"{now + TIMEOUT + 4:.3f}"},  # a lease as long as ours
        },
    )
    elapsed, token, stderr = timed_get(org, key, env)
    assert token in org.sessions
    # The tier stops polling when its next pause (at most MAX_POLL_SECONDS) and one more round of
    # calls (ROUND_RESERVE_SECONDS) would overrun its share, half the deadline: it waited that
    # long, and the login here still fit the deadline.
    assert TIMEOUT / 2 - MAX_POLL_SECONDS - ROUND_RESERVE_SECONDS < elapsed < WITHIN_DEADLINE
    (warning,) = stderr.splitlines()
    assert "slow-host:1:ab still held the lease" in warning and "share of the deadline" in warning


def _item_id(
    org: FaultyEmulator, key: str, shared: dict[str, str], tmp_path: Path, aws: Aws
) -> str:
    """The item id of the test identity: log in once, read it, and empty the table again."""
    run_cli(get_args(org, key), machine(shared, tmp_path, 99)).credential()
    (item,) = items(aws)
    identity_item: str = item["id"]["S"]
    aws.client("dynamodb").delete_item(
        TableName="sf-credproc-tokens", Key={"id": {"S": identity_item}}
    )
    return identity_item
