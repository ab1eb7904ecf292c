"""The login-rate circuit breaker: after "login rate exceeded", no request to Salesforce for that
user until the cool-down ends; a still-valid token is served meanwhile (README, "Login-rate circuit
breaker")."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import pytest
from clocks import SkippingClock
from conftest import SHARED_TABLE, Aws
from faulty_emulator import FaultyEmulator
from helpers import Run, get_args, run_cli
from shared_tier import items, machine

SESSION = 7200  # the emulator's sessions and the default --session-ttl
IN_ADVISORY = SESSION - 600  # 600 s left: inside --min-ttl (900), outside --mandatory-ttl (300)
IN_MANDATORY = SESSION - 200


def cooldown_files(env: dict[str, str]) -> list[str]:
    return glob.glob(os.path.join(env["XDG_CACHE_HOME"], "**", "*.cooldown"), recursive=True)


def trip(org: FaultyEmulator, env: dict[str, str], key: str, clock: SkippingClock) -> None:
    """Salesforce answers "login rate exceeded" to a get with nothing cached: the cool-down
    starts (one token request)."""
    org.login_limit_per_hour = 0
    before = org.token_request_count
    run = run_cli(get_args(org, key), env, clock=clock)
    run.assert_failed(5, "login rate exceeded", "600 s", "cache clear")
    assert org.token_request_count == before + 1


def assert_cooling_down(run: Run) -> None:
    run.assert_failed(5, "s more", "login rate exceeded", "cache clear", "--rate-limit-cooldown")


def test_fifty_gets_in_the_cooldown_make_no_token_request(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    clock = SkippingClock()
    trip(org, env, key, clock)
    lefts = []
    for _ in range(50):
        clock.advance(10)
        run = run_cli(get_args(org, key), env, clock=clock)
        assert_cooling_down(run)
        lefts.append(int(run.stderr.split(" s more")[0].rsplit(" ", 1)[1]))
    assert org.token_request_count == 1
    # 600 s minus the 10 s skipped, and the moment the command took; then counting down.
    assert 570 <= lefts[0] <= 591 and lefts == sorted(lefts, reverse=True)
    assert lefts[0] - lefts[-1] >= 490


def test_after_the_cooldown_a_login_happens_again(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    clock = SkippingClock()
    trip(org, env, key, clock)
    org.login_limit_per_hour = 3600
    clock.advance(570)
    assert_cooling_down(run_cli(get_args(org, key), env, clock=clock))
    clock.advance(31)
    run_cli(get_args(org, key), env, clock=clock).credential()
    assert org.token_request_count == 2


def test_the_advisory_window_serves_the_token_and_is_silent_in_the_cooldown(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    clock = SkippingClock()
    token = run_cli(get_args(org, key), env, clock=clock).credential()
    org.login_limit_per_hour = 0
    clock.advance(IN_ADVISORY)
    first = run_cli(get_args(org, key), env, clock=clock)  # the refresh hears the limit
    assert first.credential() == token
    assert "warning:" in first.stderr and "login rate exceeded" in first.stderr
    assert org.token_request_count == 2
    for _ in range(3):
        again = run_cli(get_args(org, key), env, clock=clock)
        assert again.credential() == token and again.stderr == ""
    assert org.token_request_count == 2


def test_the_mandatory_window_serves_the_token_with_a_warning(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    clock = SkippingClock()
    token = run_cli(get_args(org, key), env, clock=clock).credential()
    org.login_limit_per_hour = 0
    clock.advance(IN_MANDATORY)
    assert run_cli(get_args(org, key), env, clock=clock).credential() == token
    assert org.token_request_count == 2
    run = run_cli(get_args(org, key), env, clock=clock)
    assert run.credential() == token
    (line,) = run.stderr.splitlines()
    assert "warning:" in line and "s more" in line and "serving the cached one" in line
    assert org.token_request_count == 2


def test_an_expired_token_is_not_served(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    clock = SkippingClock()
    run_cli(get_args(org, key, "--rate-limit-cooldown", "3600"), env, clock=clock).credential()
    clock.advance(SESSION - 100)
    org.login_limit_per_hour = 0
    run_cli(get_args(org, key, "--rate-limit-cooldown", "3600"), env, clock=clock).credential()
    clock.advance(200)  # expired, and still cooling down
    run = run_cli(get_args(org, key, "--rate-limit-cooldown", "3600"), env, clock=clock)
    assert_cooling_down(run)
    assert org.token_request_count == 2


def test_refresh_in_the_cooldown_fails_with_the_time_left(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    clock = SkippingClock()
    run_cli(get_args(org, key), env, clock=clock).credential()
    org.login_limit_per_hour = 0
    run_cli(get_args(org, key, "--refresh"), env, clock=clock).assert_failed(
        5, "login rate exceeded", "600 s"
    )
    assert_cooling_down(run_cli(get_args(org, key, "--refresh"), env, clock=clock))
    assert org.token_request_count == 2


def test_cache_clear_ends_the_cooldown(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    clock = SkippingClock()
    trip(org, env, key, clock)
    org.login_limit_per_hour = 3600
    cleared = run_cli(["cache", "clear", *get_args(org, key)[1:]], env, clock=clock)
    assert cleared.code == 0 and "ended the login-rate cool-down" in cleared.stderr
    assert cooldown_files(env) == []
    run_cli(get_args(org, key), env, clock=clock).credential()
    assert org.token_request_count == 2


def test_cache_clear_all_removes_every_record(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    clock = SkippingClock()
    trip(org, env, key, clock)
    assert len(cooldown_files(env)) == 1
    cleared = run_cli(["cache", "clear", "--all"], env, clock=clock)
    assert cleared.code == 0 and "1 login-rate cool-down" in cleared.stderr
    assert cooldown_files(env) == []


def test_cache_list_shows_cooling_down(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    clock = SkippingClock()
    run_cli(get_args(org, key), env, clock=clock).credential()
    assert json.loads(run_cli(["cache", "list", "--json"], env, clock=clock).stdout)["state"] == (
        "fresh"
    )
    org.login_limit_per_hour = 0
    clock.advance(SESSION - 800)  # advisory, and mandatory once the cool-down is over
    run_cli(get_args(org, key), env, clock=clock).credential()  # trips the breaker
    listing = run_cli(["cache", "list"], env, clock=clock)
    assert " cooling-down " in listing.stdout
    row = json.loads(run_cli(["cache", "list", "--json"], env, clock=clock).stdout)
    assert row["state"] == "cooling-down" and row["cooldown_ends"].endswith("Z")
    clock.advance(601)  # over: the entry is judged by the windows alone again
    row = json.loads(run_cli(["cache", "list", "--json"], env, clock=clock).stdout)
    assert row["state"] == "mandatory" and "cooldown_ends" not in row


def test_doctor_shows_the_cooldown_and_makes_no_login(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    clock = SkippingClock()
    org.clock = clock.time  # the clock check compares the two
    trip(org, env, key, clock)
    run = run_cli(["doctor", *get_args(org, key)[1:]], env, clock=clock)
    assert run.code == 5
    lines = run.stdout.splitlines()
    assert any(line.startswith("FAILED   login rate") and "s more" in line for line in lines)
    assert any(line.startswith("skipped  token exchange") for line in lines)
    assert len(org.token_requests) == 1  # the trip's; doctor's clock check is a GET, no login
    org.login_limit_per_hour = 3600
    clock.advance(601)
    healthy = run_cli(["doctor", *get_args(org, key)[1:]], env, clock=clock)
    assert healthy.code == 0, healthy.stdout
    assert "ok       login rate" in healthy.stdout


@pytest.mark.parametrize("tamper", ["ends far ahead", "garbage", "readable by others"])
def test_a_tampered_local_record_is_ignored(
    org: FaultyEmulator, env: dict[str, str], key: str, tamper: str
) -> None:
    clock = SkippingClock()
    trip(org, env, key, clock)
    (path,) = cooldown_files(env)
    if tamper == "ends far ahead":
        now = int(clock.time())
        Path(path).write_bytes(b"sf-credproc-cooldown/1 %d %d\n" % (now, now + 86400))
    elif tamper == "garbage":
        Path(path).write_bytes(b"\x00not a record\n")
    else:
        os.chmod(path, 0o644)
    org.login_limit_per_hour = 3600
    run_cli(get_args(org, key), env, clock=clock).credential()
    assert org.token_request_count == 2


def test_cooldown_zero_turns_the_breaker_off(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    org.login_limit_per_hour = 0
    for _ in range(2):
        run = run_cli(get_args(org, key, "--rate-limit-cooldown", "0"), env)
        run.assert_failed(5, "login rate exceeded")
    assert org.token_request_count == 2 and cooldown_files(env) == []


def test_no_cache_keeps_the_breaker(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    clock = SkippingClock()
    org.login_limit_per_hour = 0
    run = run_cli(get_args(org, key, "--no-cache"), env, clock=clock)
    run.assert_failed(5, "login rate exceeded")
    assert_cooling_down(run_cli(get_args(org, key, "--no-cache"), env, clock=clock))
    assert org.token_request_count == 1


# --- the shared tier


def test_the_cooldown_is_shared_with_the_fleet(
    shared: dict[str, str], aws: Aws, org: FaultyEmulator, key: str, tmp_path: Path
) -> None:
    clock = SkippingClock()
    first, second = machine(shared, tmp_path, 1), machine(shared, tmp_path, 2)
    trip(org, first, key, clock)
    (record,) = [item for item in items(aws) if item["id"]["S"].startswith("cooldown-")]
    assert int(record["ends"]["N"]) - int(record["began"]["N"]) == 600
    assert b"600" not in record["ciphertext"]["B"]
    for _ in range(5):
        run = run_cli(get_args(org, key), second, clock=clock)
        assert_cooling_down(run)
        assert f"dynamodb://{SHARED_TABLE}" in run.stderr
    assert org.token_request_count == 1
    # cache clear ends it for the fleet (the machine that heard it keeps its own record).
    org.login_limit_per_hour = 3600
    cleared = run_cli(["cache", "clear", *get_args(org, key)[1:]], second, clock=clock)
    assert cleared.code == 0 and "ended the login-rate cool-down" in cleared.stderr
    assert not [item for item in items(aws) if item["id"]["S"].startswith("cooldown-")]
    assert_cooling_down(run_cli(get_args(org, key), first, clock=clock))
    run_cli(get_args(org, key), second, clock=clock).credential()
    assert org.token_request_count == 2


@pytest.mark.parametrize("tamper", ["garbage ciphertext", "ends pushed out", "ends far ahead"])
def test_a_tampered_shared_record_is_ignored(
    shared: dict[str, str], aws: Aws, org: FaultyEmulator, key: str, tmp_path: Path, tamper: str
) -> None:
    clock = SkippingClock()
    trip(org, machine(shared, tmp_path, 1), key, clock)
    (record,) = [item for item in items(aws) if item["id"]["S"].startswith("cooldown-")]
    began, ends = int(record["began"]["N"]), int(record["ends"]["N"])
    if tamper == "garbage ciphertext":
        record["ciphertext"] = {"B": b"not a kms ciphertext"}
    elif tamper == "ends pushed out":  # a table writer without the key: it no longer decrypts
        record["ends"] = {"N": str(ends + 86400)}
    else:  # even a validly encrypted record may not reach beyond now + the cool-down
        far = ends + 86400
        context = {"sf-credproc-cooldown": f"{record['id']['S']} began={began} until={far}"}
        sealed = aws.client("kms").encrypt(
            KeyId=shared["SF_CREDPROC_SHARED_CACHE_KEY"],
            Plaintext=b"%d %d" % (began, far),
            EncryptionContext=context,
        )
        record.update(ends={"N": str(far)}, ciphertext={"B": sealed["CiphertextBlob"]})
    aws.client("dynamodb").put_item(TableName=SHARED_TABLE, Item=record)
    org.login_limit_per_hour = 3600
    run = run_cli(get_args(org, key), machine(shared, tmp_path, 2), clock=clock)
    run.credential()
    assert "warning:" in run.stderr and "cool-down record" in run.stderr
    assert org.token_request_count == 2


def test_an_unreachable_table_does_not_fail_the_breaker(
    shared: dict[str, str], org: FaultyEmulator, key: str, tmp_path: Path
) -> None:
    clock = SkippingClock()
    first = machine(shared, tmp_path, 1)
    first["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # nothing listens: every AWS call fails
    org.login_limit_per_hour = 0
    run = run_cli(get_args(org, key, "--timeout", "8"), first, clock=clock)
    assert run.code == 5 and "login rate exceeded" in run.stderr and run.stdout == ""
    # Recorded locally all the same: the next get makes no request.
    assert_cooling_down_with_warnings(run_cli(get_args(org, key), first, clock=clock))
    assert org.token_request_count == 1


def assert_cooling_down_with_warnings(run: Run) -> None:
    """Exit 5 with the time left; the shared tier's warnings may come before the failure line."""
    assert run.code == 5 and run.stdout == ""
    failure = run.stderr.splitlines()[-1]
    assert "s more" in failure and "cache clear" in failure
    assert "Traceback" not in run.stderr
