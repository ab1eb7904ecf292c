"""``logout`` and ``cache clear`` reach the shared tier: a revoked or cleared token does not live on
in the table for the next ``get`` on any machine to print; when the table cannot be reached, the
local part is done and a warning says what remains."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_fault_proxy import AwsFaultProxy
from conftest import Aws
from helpers import get_args, run_cli, run_timed
from shared_tier import items, local_entries, machine

from sf_credproc.emulator import SalesforceEmulator

#: Generous: the shared tier gets a share of it, and moto shares the test worker's CPU under load.
TIMEOUT = 30.0
DELETE_ITEM = "DynamoDB_20120810.DeleteItem"


def command(name: str, org: SalesforceEmulator, key: str) -> list[str]:
    """``logout`` or ``cache clear`` with the options of ``get``."""
    return [*name.split(), *get_args(org, key, "--timeout", f"{TIMEOUT:g}")[1:]]


@pytest.mark.parametrize("who", ["the same machine", "another machine", "a newer token shared"])
def test_logout_revokes_the_shared_token_and_deletes_the_item(
    who: str, shared: dict[str, str], aws: Aws, org: SalesforceEmulator, key: str, tmp_path: Path
) -> None:
    first = machine(shared, tmp_path, 1)
    tokens = [run_cli(get_args(org, key), first).credential()["AccessToken"]]
    if who == "a newer token shared":  # another machine refreshed: this one's token differs
        refreshed = run_cli(get_args(org, key, "--refresh"), machine(shared, tmp_path, 2))
        tokens.append(refreshed.credential()["AccessToken"])
    env = machine(shared, tmp_path, 2) if who == "another machine" else first
    run = run_cli(command("logout", org, key), env)
    assert run.code == 0 and run.stdout == ""
    (line,) = run.stderr.splitlines()
    assert "revoked" in line and "deleted its item in dynamodb://" in line, line
    assert all(org.sessions[token].revoked for token in tokens)
    assert items(aws) == [] and local_entries(env) == []
    # No machine is handed a revoked token: the next get logs in anew.
    fresh = run_cli(get_args(org, key), machine(shared, tmp_path, 3)).credential()["AccessToken"]
    assert fresh not in tokens and org.token_request_count == len(tokens) + 1


def test_cache_clear_deletes_the_shared_item(
    shared: dict[str, str], aws: Aws, org: SalesforceEmulator, key: str, tmp_path: Path
) -> None:
    env = machine(shared, tmp_path, 1)
    token = run_cli(get_args(org, key), env).credential()["AccessToken"]
    run = run_cli(command("cache clear", org, key), env)
    assert run.code == 0 and run.stdout == ""
    (line,) = run.stderr.splitlines()
    assert "removed the cached token" in line and "deleted its item in dynamodb://" in line
    assert items(aws) == [] and local_entries(env) == []
    again = run_cli(get_args(org, key), machine(shared, tmp_path, 2)).credential()
    assert again["AccessToken"] != token and org.token_request_count == 2


@pytest.mark.parametrize("fault", ["reset", "hang", "unreachable"])
@pytest.mark.parametrize("name", ["logout", "cache clear"])
def test_an_unreachable_table_is_a_loud_warning(
    name: str,
    fault: str,
    shared: dict[str, str],
    aws: Aws,
    aws_fault_proxy: AwsFaultProxy,
    org: SalesforceEmulator,
    key: str,
    tmp_path: Path,
) -> None:
    env = machine(shared, tmp_path, 1)
    token = run_cli(get_args(org, key), env).credential()["AccessToken"]
    if fault == "unreachable":
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    else:
        env["AWS_ENDPOINT_URL"] = aws_fault_proxy.url
        getattr(aws_fault_proxy, fault)(DELETE_ITEM)
    run, elapsed = run_timed(command(name, org, key), env)
    assert run.code == 0 and run.stdout == "" and "Traceback" not in run.stderr
    assert elapsed < TIMEOUT * 1.25  # the watchdog's end, and a loaded start
    warnings = [line for line in run.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and len(run.stderr.splitlines()) == 2, run.stderr
    assert warnings[0].startswith("sf-credproc: warning: shared cache dynamodb://")
    assert "may not have been deleted" in warnings[0] and "cache clear" in warnings[0]
    assert local_entries(env) == []  # the local part is done all the same
    # A reset or no route: the item remains, as the warning says. A hung call's delete reached the
    # table though its answer never came, which the command cannot tell: the item is gone.
    assert len(items(aws)) == (0 if fault == "hang" else 1)
    if fault != "unreachable":
        assert DELETE_ITEM in aws_fault_proxy.seen
    if name == "logout":
        assert org.sessions[token].revoked
