"""Compare and refresh after a 401 (``get --rejected-sha256``): a reported token is dropped only
once Salesforce's userinfo endpoint confirms it dead, and then one process logs in; reports of an
old token, or of a live one, cause no login. Real processes started together, as consumers are.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

from faulty_emulator import CannedResponse, FaultyEmulator
from helpers import EXE, get_args, run_cli, run_process
from shared_tier import machine

from sf_credproc.oauth.userinfo import USERINFO_PATH


def sha256_of(token: str) -> str:
    """What a consumer passes: ``printf %s "$TOKEN" | sha256sum | cut -d' ' -f1``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def revoke(org: FaultyEmulator, token: str) -> None:
    """The session ends at Salesforce (an admin, a password change): consumers now see 401."""
    with org.lock:
        org.sessions[token].revoked = True


def userinfo_calls(org: FaultyEmulator) -> int:
    return org.request_counts[USERINFO_PATH]


#: 32 interpreters on two cores start slowly: a generous deadline, so that no waiter gives up on
#: the lock or the lease (and logs in by itself) before the one process that logs in is done.
PATIENT = ("--timeout", "180")


def start_together(
    commands: Sequence[tuple[Sequence[str], dict[str, str]]],
) -> list[tuple[int, str, str]]:
    """Start every command at once (as tests/test_cache.py's race does); exit, stdout, stderr."""
    processes = [
        subprocess.Popen(
            [str(EXE), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for args, env in commands
    ]
    outputs = [process.communicate(timeout=400) for process in processes]
    return [
        (process.returncode, stdout, stderr)
        for process, (stdout, stderr) in zip(processes, outputs, strict=True)
    ]


def tokens_printed(results: list[tuple[int, str, str]]) -> set[str]:
    assert [code for code, _, _ in results] == [0] * len(results), results
    return {json.loads(stdout)["AccessToken"] for _, stdout, _ in results}


def test_thirty_two_reports_of_a_dead_token_cause_one_login(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    args = get_args(org, key)
    dead = run_cli(args, env).credential()["AccessToken"]
    revoke(org, dead)
    report = [*args, *PATIENT, "--rejected-sha256", sha256_of(dead)]

    first_wave = start_together([(report, env)] * 32)
    (new,) = tokens_printed(first_wave)
    assert new != dead
    assert org.token_request_count == 2  # the first get, and one login for all 32
    assert userinfo_calls(org) == 1  # only the process that found the dead token asked
    assert all(stderr == "" for _, _, stderr in first_wave)

    # A second wave still reporting the old token: the cache holds a newer one; no login, and no
    # question to Salesforce either.
    second_wave = start_together([(report, env)] * 8)
    assert tokens_printed(second_wave) == {new}
    assert org.token_request_count == 2
    assert userinfo_calls(org) == 1


def test_reports_of_a_live_token_cause_no_login(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """The 401 had another cause (a proxy, another org): userinfo answers 200, the same token is
    served with one warning, and however often the consumer reports it, nobody logs in."""
    args = get_args(org, key)
    live = run_cli(args, env).credential()
    report = [*args, "--rejected-sha256", sha256_of(live["AccessToken"])]
    for attempt in range(1, 4):
        run = run_cli(report, env)
        assert run.credential() == live
        (warning,) = run.stderr.splitlines()
        assert warning.startswith("sf-credproc: warning: Salesforce still accepts the token")
        assert userinfo_calls(org) == attempt
    results = start_together([([*report, *PATIENT], env)] * 8)
    assert tokens_printed(results) == {live["AccessToken"]}
    assert all(stderr.count("warning:") == 1 for _, _, stderr in results)
    assert org.token_request_count == 1


def test_a_report_with_an_empty_cache_logs_in_once(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """Nothing cached (another machine's token, a cleared cache): an ordinary miss; the reported
    token is not looked up at Salesforce, since there is nothing to drop."""
    report = get_args(org, key, "--rejected-sha256", sha256_of("00Dxx!not.a.token.of.ours"))
    run_cli(report, env).credential()
    assert org.token_request_count == 1
    assert userinfo_calls(org) == 0


def test_the_fast_path_never_answers_a_report(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """The same invocation twice, as a real process: a cache hit's fast path would print the
    recorded output; a report must reach the full command each time (it asks Salesforce)."""
    live = run_process(get_args(org, key), env).credential()
    flag = get_args(org, key, "--rejected-sha256", sha256_of(live["AccessToken"]))
    variable = {**env, "SF_CREDPROC_REJECTED_SHA256": sha256_of(live["AccessToken"])}
    for attempt in range(1, 3):
        assert run_process(flag, env).credential() == live
        assert run_process(get_args(org, key), variable).credential() == live
        assert userinfo_calls(org) == 2 * attempt
    assert org.token_request_count == 1


def test_the_variable_reports_like_the_flag(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    args = get_args(org, key)
    dead = run_cli(args, env).credential()["AccessToken"]
    revoke(org, dead)
    env["SF_CREDPROC_REJECTED_SHA256"] = sha256_of(dead)
    new = run_cli(args, env).credential()["AccessToken"]
    assert new != dead
    assert org.token_request_count == 2
    assert userinfo_calls(org) == 1


def test_reports_on_two_machines_sharing_a_tier_cause_one_login(
    org: FaultyEmulator, shared: dict[str, str], key: str, tmp_path: Path
) -> None:
    """Both machines hold the token (one logged in, the other copied it from the shared tier);
    Salesforce revokes it; 16 consumers on each machine report it at once: the item is deleted
    only while it holds the dead token, and one process in the whole fleet logs in."""
    args = get_args(org, key, *PATIENT)  # a slow table must not make a machine log in alone
    one, two = machine(shared, tmp_path, 1), machine(shared, tmp_path, 2)
    dead = run_cli(args, one).credential()["AccessToken"]
    assert run_cli(args, two).credential()["AccessToken"] == dead
    assert org.token_request_count == 1
    revoke(org, dead)
    report = [*args, "--rejected-sha256", sha256_of(dead)]

    results = start_together([(report, one), (report, two)] * 16)
    (new,) = tokens_printed(results)
    assert new != dead
    assert org.token_request_count == 2
    assert all("warning:" not in stderr for _, _, stderr in results), results

    # Either machine, reporting the old token again or not, serves the new one without a login.
    for environment in (one, two):
        assert run_cli(report, environment).credential()["AccessToken"] == new
        assert run_cli(args, environment).credential()["AccessToken"] == new
    assert org.token_request_count == 2


def test_a_userinfo_that_cannot_tell_is_exit_5_and_keeps_the_entry(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """Salesforce's userinfo answers neither yes nor no (a 503 on every attempt): nothing is
    dropped and nobody logs in; the report fails with exit 5, and the entry still serves."""
    args = get_args(org, key)
    token = run_cli(args, env).credential()["AccessToken"]
    org.canned_userinfo.extend([CannedResponse(503, b"<html>Maintenance</html>")] * 4)
    run_cli([*args, "--rejected-sha256", sha256_of(token)], env).assert_failed(
        5, "cannot tell whether the reported token is dead"
    )
    assert userinfo_calls(org) == 4  # retried as any transient failure, within the deadline
    assert org.token_request_count == 1
    assert run_cli(args, env).credential()["AccessToken"] == token
