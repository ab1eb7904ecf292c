"""The refresh windows through the command: each state of a cached token (fresh, advisory,
mandatory, expired) against each way its refresh can fail (transient, permanent, login rate
limit), as the table in ``sf_credproc/cache/refresh.py`` says; an outage across the windows.

The emulator's clock is the command's (``org.clock``), so a token's age and the session's agree
while a ``SkippingClock`` moves time on.
"""

from __future__ import annotations

import calendar
import fcntl
import time
from pathlib import Path

import pytest
from clocks import SkippingClock
from faulty_emulator import CannedResponse, FaultyEmulator
from helpers import (
    CLIENT_ID,
    USERNAME,
    Run,
    credential_document,
    get_args,
    run_cli,
    run_process,
)

from sf_credproc.cache.disk import advisory_seconds, this_host

SESSION_TTL = 1200
MIN_TTL = 600  # advisory: 600 s stretched by this host's jitter and rounded up, so 600..660 s
MANDATORY_TTL = 300
WINDOWS = (
    "--session-ttl", str(SESSION_TTL),
    "--min-ttl", str(MIN_TTL),
    "--mandatory-ttl", str(MANDATORY_TTL),
)  # fmt: skip

#: Seconds left on the cached token in each state, well inside the state's window.
SECONDS_LEFT = {"fresh": 900, "advisory": 450, "mandatory": 150, "expired": -10}

OUTAGE = CannedResponse(503, b"<html>Down for maintenance</html>")


def expiration_of(credential: dict[str, str]) -> float:
    return calendar.timegm(time.strptime(credential["Expiration"], "%Y-%m-%dT%H:%M:%SZ"))


def entry_stem(env: dict[str, str]) -> str:
    (entry,) = (Path(env["XDG_CACHE_HOME"]) / "sf-credproc").glob("*.cred")
    return entry.stem


def move_to(clock: SkippingClock, moment: float) -> None:
    """Set the clock to ``moment`` (never backwards)."""
    clock.advance(max(0.0, moment - clock.time()))


def warnings_in(run: Run) -> list[str]:
    return [line for line in run.stderr.splitlines() if "warning:" in line]


def fail_refreshes(org: FaultyEmulator, failure: str) -> None:
    """Make every login from now on fail the way ``failure`` names."""
    if failure == "transient":
        org.canned_responses.extend([OUTAGE] * 20)
    elif failure == "permanent":
        org.users[USERNAME].active = False
    elif failure == "rate limit":
        org.login_limit_per_hour = 0  # Salesforce: "login rate exceeded"


#: (state, failure) → what ``get`` does (refresh.py's table): ``served`` silently without asking
#: Salesforce, ``kept`` (the cached token after a failed refresh, one warning), ``refreshed``
#: (a new token, silently), or the exit status of the failure.
EXPECTED: dict[tuple[str, str], str | int] = {
    ("fresh", "transient"): "served",
    ("fresh", "permanent"): "served",
    ("fresh", "rate limit"): "served",
    ("advisory", "none"): "refreshed",
    ("advisory", "transient"): "kept",
    ("advisory", "permanent"): 4,
    ("advisory", "rate limit"): "kept",
    ("mandatory", "none"): "refreshed",
    ("mandatory", "transient"): 5,
    ("mandatory", "permanent"): 4,
    ("mandatory", "rate limit"): "kept",
    ("expired", "none"): "refreshed",
    ("expired", "transient"): 5,
    ("expired", "permanent"): 4,
    ("expired", "rate limit"): 5,
}


@pytest.mark.parametrize(("state", "failure"), list(EXPECTED), ids=" / ".join)
def test_each_state_against_each_failure(
    org: FaultyEmulator, env: dict[str, str], key: str, state: str, failure: str
) -> None:
    clock = SkippingClock()
    org.clock = clock.time
    args = get_args(org, key, *WINDOWS)
    cached = run_cli(args, env, clock=clock).credential()
    assert org.token_request_count == 1
    # The advisory window really is where this host's jitter puts it.
    assert MIN_TTL <= advisory_seconds(MIN_TTL, entry_stem(env), this_host()) <= 660

    move_to(clock, expiration_of(cached) - SECONDS_LEFT[state])
    fail_refreshes(org, failure)
    run = run_cli(args, env, clock=clock)

    expected = EXPECTED[(state, failure)]
    requests = org.token_request_count - 1
    if expected == "served":
        assert run.credential() == cached
        assert run.stderr == ""
        assert requests == 0
    elif expected == "kept":
        assert run.credential() == cached
        (warning,) = run.stderr.splitlines()
        assert warning.startswith("sf-credproc: warning: could not refresh the Salesforce token")
        assert "serving the cached one" in warning
        # One attempt: a usable token backs the refresh, so a failure is not retried (the next
        # get tries again), and the rate limit is never retried.
        assert requests == 1
    elif expected == "refreshed":
        fresh = run.credential()
        assert fresh["AccessToken"] != cached["AccessToken"]
        assert run.stderr == ""
        assert requests == 1
        # ...and kept: the next get is a silent hit.
        assert run_cli(args, env, clock=clock).credential() == fresh
        assert org.token_request_count == 2
    else:
        run.assert_failed(int(expected))
        assert warnings_in(run) == []


def test_the_kept_token_is_refreshed_once_salesforce_is_back(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """A token kept through a failed refresh in the advisory window is still in the window: the
    next get tries again, and its success replaces the token for good."""
    clock = SkippingClock()
    org.clock = clock.time
    args = get_args(org, key, *WINDOWS)
    cached = run_cli(args, env, clock=clock).credential()
    move_to(clock, expiration_of(cached) - SECONDS_LEFT["advisory"])
    org.canned_responses.extend([OUTAGE] * 20)
    assert run_cli(args, env, clock=clock).credential() == cached
    org.canned_responses.clear()
    before = org.token_request_count
    fresh = run_cli(args, env, clock=clock)
    assert fresh.credential()["AccessToken"] != cached["AccessToken"]
    assert fresh.stderr == ""
    assert org.token_request_count == before + 1


def test_refresh_is_forced_and_never_falls_back(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """``--refresh`` in the advisory window with Salesforce down: exit 5, not the cached token."""
    clock = SkippingClock()
    org.clock = clock.time
    args = get_args(org, key, *WINDOWS)
    cached = run_cli(args, env, clock=clock).credential()
    move_to(clock, expiration_of(cached) - SECONDS_LEFT["advisory"])
    org.canned_responses.extend([OUTAGE] * 20)
    run_cli([*args, "--refresh"], env, clock=clock).assert_failed(5, "HTML page")


def test_salesforce_down_for_twenty_minutes_across_the_advisory_window(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """A get every minute while Salesforce is down for 20 minutes, starting a minute before the
    advisory window: every get serves the cached token until the mandatory window, then each
    fails with exit 5; once Salesforce is back, one login and every get succeeds again."""
    clock = SkippingClock()
    org.clock = clock.time
    # The defaults of a one-hour session: advisory 900 s (plus jitter), mandatory 300 s.
    args = get_args(org, key, "--session-ttl", "3600")
    cached = run_cli(args, env, clock=clock).credential()
    expiration = expiration_of(cached)
    advisory = advisory_seconds(900, entry_stem(env), this_host())
    # Minutes that leave 30 s more than a whole number of minutes above the mandatory window, so
    # that a refresh's retries (their backoffs move the clock too) never cross it mid-command;
    # the first of them within a minute before the advisory window.
    first_left = 330 + 60 * -(-(advisory - 330 + 1) // 60)
    down_from = expiration - first_left
    down_until = down_from + 20 * 60
    org.canned_responses.extend([OUTAGE] * 1000)

    outcomes: list[tuple[float, str]] = []
    minute = down_from
    while minute < down_until:
        move_to(clock, minute)
        left = expiration - clock.time()
        run = run_cli(args, env, clock=clock)
        if left > 300:
            assert run.credential() == cached, f"{left:.0f} s left"
            assert len(warnings_in(run)) == (1 if left <= advisory else 0), run.stderr
            outcomes.append((left, "served"))
        else:
            run.assert_failed(5, "HTML page")
            outcomes.append((left, "failed"))
        minute += 60
    served = [left for left, outcome in outcomes if outcome == "served"]
    failed = [left for left, outcome in outcomes if outcome == "failed"]
    assert len(served) >= 10  # the last fresh minute and the whole advisory window
    assert len(failed) >= 5  # the mandatory window and past expiry
    assert min(served) > 300 >= max(failed)

    org.canned_responses.clear()
    move_to(clock, down_until)
    logins = org.token_request_count
    back = run_cli(args, env, clock=clock).credential()
    assert back["AccessToken"] != cached["AccessToken"]
    for _ in range(3):
        clock.advance(60)
        assert run_cli(args, env, clock=clock).credential() == back
    assert org.token_request_count == logins + 1


@pytest.mark.parametrize("state", ["advisory", "mandatory"])
def test_a_refresh_in_progress_elsewhere(
    org: FaultyEmulator, env: dict[str, str], key: str, state: str
) -> None:
    """Another process holds the identity's lock (it is refreshing): in the advisory window the
    current token is served at once, silently; in the mandatory window the command waits for
    that process, and fails at its deadline if it never finishes."""
    clock = SkippingClock()
    org.clock = clock.time
    args = get_args(org, key, *WINDOWS)
    cached = run_cli(args, env, clock=clock).credential()
    move_to(clock, expiration_of(cached) - SECONDS_LEFT[state])
    lock = Path(env["XDG_CACHE_HOME"]) / "sf-credproc" / f"{entry_stem(env)}.lock"
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        run = run_cli([*args, "--timeout", "2"], env, clock=clock)
    if state == "advisory":
        assert run.credential() == cached
        assert run.stderr == ""
    else:
        run.assert_failed(5, "another sf-credproc process")
    assert org.token_request_count == 1


def plant_entry(
    org: FaultyEmulator, env: dict[str, str], key: str, seconds_left: int
) -> dict[str, str]:
    """A cached token with ``seconds_left`` to live, as the command would have saved it: a real
    process cannot be given a clock, so the token's age is set instead."""
    from sf_credproc.cache.files import FileTokenCache
    from sf_credproc.compose import cache_identity
    from sf_credproc.config.settings import resolve_keywords
    from sf_credproc.credential import Credential

    settings = resolve_keywords(
        environ=env, client_id=CLIENT_ID, username=USERNAME, login_url=org.url, key=key
    )
    expiration = int(time.time()) + seconds_left
    issued_at = expiration - SESSION_TTL
    document = credential_document(
        "00Dxx0000000001!planted.token.for.the.window.test", USERNAME, issued_at, expiration
    )
    credential = Credential.from_document(document, issued_at=issued_at, expiration=expiration)
    FileTokenCache(settings.cache_dir).write(cache_identity(settings), credential)
    return document


@pytest.mark.parametrize(("state", "code"), [("advisory", 0), ("mandatory", 5)])
def test_a_real_process_through_an_outage(
    org: FaultyEmulator, env: dict[str, str], key: str, state: str, code: int
) -> None:
    """The installed command, Salesforce down: the advisory window serves the cached token with
    exactly one warning and exit 0; the mandatory window exits 5 with stdout empty."""
    cached = plant_entry(org, env, key, SECONDS_LEFT[state])
    org.canned_responses.extend([OUTAGE] * 20)
    run = run_process(get_args(org, key, *WINDOWS), env)
    if code == 0:
        assert run.credential() == cached
        (warning,) = run.stderr.splitlines()
        assert warning.startswith("sf-credproc: warning: could not refresh the Salesforce token")
    else:
        run.assert_failed(5, "HTML page")
    assert org.token_request_count >= 1  # a refresh was attempted in both windows
