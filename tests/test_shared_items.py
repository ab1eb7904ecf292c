"""Items that someone who can write the table (but has no KMS rights) changed: never served, never
a failed ``get``. Malformed items are one warning and a local login, until ``cache clear`` removes
them; a forged expiration (it no longer decrypts) and a replayed older item are replaced."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clocks import SkippingClock
from conftest import SHARED_TABLE, Aws
from helpers import get_args, run_cli, run_timed
from shared_tier import items, local_entries
from shared_tier import machine as shared_machine

from sf_credproc.cache.tiered import MAX_POLL_SECONDS, ROUND_RESERVE_SECONDS
from sf_credproc.emulator import SalesforceEmulator

#: Every command here runs with this deadline. The tier gets half of it, which must hold all of its
#: healthy round trips to moto (an in-process server sharing the test's CPU) on a loaded machine:
#: otherwise its share runs out, and a healthy machine warns.
TIMEOUT = 60.0
#: The least a wait on a lease costs: polling stops only when the next pause and one more round
#: would overrun the tier's share, half of the deadline (``cache/tiered.py``). The polls' pauses
#: cost no real time (the clock skips them), so the bound is as sharp on a loaded machine.
LEAST_LEASE_WAIT = TIMEOUT / 2 - MAX_POLL_SECONDS - ROUND_RESERVE_SECONDS
Item = dict[str, Any]


def without(name: str) -> Callable[[Item], None]:
    return lambda item: item.pop(name)


def typed(name: str, kind: str, value: Any) -> Callable[[Item], None]:
    def change(item: Item) -> None:
        item[name] = {kind: value}

    return change


def far_future_lease(item: Item) -> None:
    item["lease_holder"] = {"S": "mallory:1:00"}
    item["lease_expires"] = {"N": f"{time.time() + 3600:.3f}"}


MALFORMED = [
    ("missing expiration", without("expiration"), "lacks expiration"),
    ("missing issued_at", without("issued_at"), "lacks issued_at"),
    ("missing ciphertext", without("ciphertext"), "lacks ciphertext"),
    (
        "expiration as a string",
        typed("expiration", "S", "2000000000"),
        "expiration is not of type N",
    ),
    ("ciphertext as a string", typed("ciphertext", "S", "abc"), "ciphertext is not of type B"),
    ("fractional issued_at", typed("issued_at", "N", "1.5"), "issued_at is not a whole number"),
    ("lease_expires as a string", typed("lease_expires", "S", "soon"), "lease_expires is not"),
    ("half a lease", typed("lease_holder", "S", "mallory:1:00"), "half a lease"),
    ("far-future lease_expires", far_future_lease, "lease ends later than any holder"),
]


def machine(env: dict[str, str], tmp_path: Path, number: int) -> dict[str, str]:
    """``shared_tier.machine``, whose commands all have ``TIMEOUT``."""
    return {**shared_machine(env, tmp_path, number), "SF_CREDPROC_TIMEOUT": f"{TIMEOUT:g}"}


def change_item(aws: Aws, change: Callable[[Item], None]) -> None:
    (item,) = items(aws)
    change(item)
    aws.client("dynamodb").put_item(TableName=SHARED_TABLE, Item=item)


@pytest.mark.parametrize(
    ("change", "needle"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_a_malformed_item_is_one_warning_until_cleared(
    change: Callable[[Item], None],
    needle: str,
    shared: dict[str, str],
    aws: Aws,
    org: SalesforceEmulator,
    key: str,
    tmp_path: Path,
) -> None:
    first = run_cli(get_args(org, key), machine(shared, tmp_path, 0)).credential()["AccessToken"]
    change_item(aws, change)
    env = machine(shared, tmp_path, 1)
    run, elapsed = run_timed(get_args(org, key), env)
    token = run.credential()["AccessToken"]
    assert elapsed < LEAST_LEASE_WAIT  # no waiting on a lease that is not one
    assert token != first and token in org.sessions  # a login of its own
    (warning,) = run.stderr.splitlines()
    assert warning.startswith("sf-credproc: warning: shared cache dynamodb://"), warning
    assert needle in warning and "cache clear" in warning
    assert len(local_entries(env)) == 1

    cleared = run_cli(["cache", "clear", *get_args(org, key)[1:]], env)
    assert cleared.code == 0 and "deleted its item" in cleared.stderr, cleared.stderr
    assert items(aws) == []
    healthy = run_cli(get_args(org, key), machine(shared, tmp_path, 2))
    assert healthy.stderr == "" and healthy.credential()["AccessToken"] not in (first, token)


@pytest.mark.parametrize("field", ["expiration", "issued_at"])
def test_a_forged_expiration_or_issue_time_is_replaced(
    field: str,
    shared: dict[str, str],
    aws: Aws,
    org: SalesforceEmulator,
    key: str,
    tmp_path: Path,
) -> None:
    first = run_cli(get_args(org, key), machine(shared, tmp_path, 0)).credential()["AccessToken"]
    # Push the expiration out (or the issue time forward, past every machine's high-water mark).
    change_item(aws, lambda item: item.update({field: {"N": str(int(item[field]["N"]) + 86400)}}))
    run = run_cli(get_args(org, key), machine(shared, tmp_path, 1))
    token = run.credential()["AccessToken"]
    assert token != first  # the forged item was not served
    (warning,) = run.stderr.splitlines()
    assert "does not decrypt" in warning and "logging in to replace it" in warning
    # ... and it was replaced: the next machine gets the new token, silently.
    after = run_cli(get_args(org, key), machine(shared, tmp_path, 2))
    assert after.stderr == "" and after.credential()["AccessToken"] == token
    assert org.token_request_count == 2


def test_a_replayed_older_item_is_refused_by_a_machine_that_saw_a_newer_one(
    shared: dict[str, str], aws: Aws, org: SalesforceEmulator, key: str, tmp_path: Path
) -> None:
    clock = SkippingClock()
    org.clock = clock.time  # Salesforce issues the tokens: its clock moves with the machines'
    old = run_cli(get_args(org, key), machine(shared, tmp_path, 0), clock=clock).credential()
    (old_item,) = items(aws)  # a valid item, captured by whoever can read the table
    clock.advance(1.1)  # issue times are whole seconds
    env = machine(shared, tmp_path, 1)
    newer = run_cli(get_args(org, key, "--refresh"), env, clock=clock).credential()["AccessToken"]
    aws.client("dynamodb").put_item(TableName=SHARED_TABLE, Item=old_item)  # the replay
    for entry in local_entries(env):  # this machine's own entry is gone (expired, cleared...)
        os.unlink(entry)

    run = run_cli(get_args(org, key), env, clock=clock)
    token = run.credential()["AccessToken"]
    (warning,) = run.stderr.splitlines()
    assert "older than one this machine has already seen" in warning
    assert token not in (newer, old["AccessToken"]) and org.token_request_count == 3
    (item,) = items(aws)
    assert int(item["issued_at"]["N"]) > int(old_item["issued_at"]["N"])  # replaced
    marks = list(Path(env["XDG_CACHE_HOME"]).glob("**/*.seen"))
    assert len(marks) == 1 and marks[0].stat().st_mode & 0o777 == 0o600


def test_doctor_names_a_malformed_item_and_the_command_that_removes_it(
    shared: dict[str, str], aws: Aws, org: SalesforceEmulator, key: str, tmp_path: Path
) -> None:
    env = machine(shared, tmp_path, 1)
    run_cli(get_args(org, key), env).credential()
    change_item(aws, without("issued_at"))
    run = run_cli(["doctor", *get_args(org, key)[1:], "--json"], env)
    checks = {c["name"]: c for c in json.loads(run.stdout)["checks"]}
    assert run.code == 3
    assert checks["shared cache"]["status"] == "FAILED"
    assert "malformed" in checks["shared cache"]["detail"]
    assert "cache clear" in checks["shared cache"]["fix"]
