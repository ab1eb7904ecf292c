"""``CredentialKeeper`` and ``BackgroundRefresher`` at their seams: a fetch function and a clock.

The keeper's rules are the refresh windows' table (``cache/refresh.py``); these tests hold the
fetch (a login) at a gate where a race matters, so no timing decides which thread got which token.
The end-to-end behaviour through the emulator is proven by ``SalesforceAuth``'s tests
(``test_auth_refresh.py``) and the endpoint's and agent's tests.
"""

from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from clocks import ManualClock

from sf_credproc.cache.refresh import RefreshWindows
from sf_credproc.credential import Credential
from sf_credproc.errors import (
    CoolingDown,
    KeySourceError,
    LoginRateExceeded,
    SalesforceRefusedError,
    TransientError,
)
from sf_credproc.keeper import CredentialKeeper, token_sha256
from sf_credproc.refresher import MAX_RETRY_SECONDS, BackgroundRefresher, retry_delay_seconds

SESSION_TTL = 7200
WINDOWS = RefreshWindows(
    advisory_seconds=900, mandatory_seconds=300, session_ttl_seconds=SESSION_TTL
)
#: Seconds left on a token in each state under ``WINDOWS``.
LEFT = {"fresh": 3600, "advisory": 600, "mandatory": 100, "expired": -1}
WAIT_SECONDS = 30.0


class GatedLogin:
    """The fetch: a new credential per call, counted; fails with ``error`` when set; holds every
    call at ``gate`` while it is closed."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.calls = 0
        self.rejected: list[str | None] = []
        self.error: Exception | None = None
        self.gate = threading.Event()
        self.gate.set()
        self.arrived = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, rejected_sha256: str | None, current: Credential | None) -> Credential:
        self.arrived.set()
        assert self.gate.wait(WAIT_SECONDS), "a test left the login gate closed"
        with self._lock:
            self.calls += 1
            self.rejected.append(rejected_sha256)
            number = self.calls
        if self.error is not None:
            raise self.error
        issued_at = int(self.clock.time())
        return Credential(
            access_token=f"00Dxx0000000001!token.number.{number}",
            token_type="Bearer",
            instance_url="https://acme.my.salesforce.com",
            id_url="https://login.salesforce.com/id/00Dxx0000000001AAA/005xx0000000001AAA",
            org_id="00Dxx0000000001AAA",
            username="user@acme.example",
            scope="api",
            issued_at=issued_at,
            expiration=issued_at + SESSION_TTL,
        )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(now=2_000_000_000.0)


@pytest.fixture
def login(clock: ManualClock) -> GatedLogin:
    return GatedLogin(clock)


@pytest.fixture
def keeper(login: GatedLogin, clock: ManualClock) -> CredentialKeeper:
    return CredentialKeeper(login, WINDOWS, clock)


def age_to(keeper: CredentialKeeper, clock: ManualClock, state: str) -> None:
    """Move the clock so that the held token has ``LEFT[state]`` seconds left."""
    held = keeper.held
    assert held is not None
    clock.now = held.expiration - LEFT[state]


def test_a_fresh_token_is_served_without_a_login(
    keeper: CredentialKeeper, login: GatedLogin
) -> None:
    first = keeper.obtain()
    assert keeper.obtain() is first
    assert keeper.servable() is first
    assert login.calls == 1
    assert "token.number" not in repr(keeper)


def test_nothing_held_is_not_servable_and_the_first_obtain_logs_in(
    keeper: CredentialKeeper, login: GatedLogin
) -> None:
    assert keeper.servable() is None
    assert keeper.state() == "expired"
    assert keeper.advisory_starts_at() is None
    credential = keeper.obtain()
    assert login.calls == 1
    assert keeper.advisory_starts_at() == credential.expiration - WINDOWS.advisory_seconds


@pytest.mark.parametrize("state", ["mandatory", "expired"])
def test_past_the_advisory_window_the_token_is_not_servable(
    keeper: CredentialKeeper, clock: ManualClock, login: GatedLogin, state: str
) -> None:
    old = keeper.obtain()
    age_to(keeper, clock, state)
    assert keeper.servable() is None
    new = keeper.obtain()
    assert new.access_token != old.access_token
    assert (login.calls, keeper.refreshes) == (2, 1)


def test_in_the_advisory_window_one_caller_refreshes_and_the_others_are_served(
    keeper: CredentialKeeper, clock: ManualClock, login: GatedLogin
) -> None:
    old = keeper.obtain()
    age_to(keeper, clock, "advisory")
    assert keeper.servable() is old
    login.gate.clear()
    login.arrived.clear()
    with ThreadPoolExecutor(max_workers=1) as pool:
        refreshing = pool.submit(keeper.obtain)
        assert login.arrived.wait(WAIT_SECONDS)
        # While the refresh is held, every other caller gets the token held, at once.
        assert [keeper.obtain() for _ in range(5)] == [old] * 5
        login.gate.set()
        new = refreshing.result(WAIT_SECONDS)
    assert new.access_token != old.access_token
    assert login.calls == 2


def test_in_the_mandatory_window_callers_wait_for_one_refresh_and_share_it(
    keeper: CredentialKeeper, clock: ManualClock, login: GatedLogin
) -> None:
    keeper.obtain()
    age_to(keeper, clock, "mandatory")
    login.gate.clear()
    login.arrived.clear()
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = [pool.submit(keeper.obtain) for _ in range(20)]
        assert login.arrived.wait(WAIT_SECONDS)
        login.gate.set()
        tokens = {answer.result(WAIT_SECONDS).access_token for answer in answers}
    assert len(tokens) == 1
    assert login.calls == 2


def test_a_failed_refresh_is_shared_by_its_waiters_not_repeated(
    keeper: CredentialKeeper, clock: ManualClock, login: GatedLogin
) -> None:
    keeper.obtain()
    age_to(keeper, clock, "expired")
    login.error = SalesforceRefusedError("user hasn't approved this consumer")
    login.gate.clear()
    login.arrived.clear()
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = [pool.submit(keeper.obtain) for _ in range(10)]
        assert login.arrived.wait(WAIT_SECONDS)
        login.gate.set()
        errors = [answer.exception(WAIT_SECONDS) for answer in answers]
    assert all(isinstance(error, SalesforceRefusedError) for error in errors)
    # One login for the refresh; callers that came after it failed may start at most one more each
    # round, never one per waiter of the failed refresh.
    assert login.calls < 1 + len(answers)


def test_advisory_transient_failure_keeps_the_token_with_one_warning(
    keeper: CredentialKeeper,
    clock: ManualClock,
    login: GatedLogin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = keeper.obtain()
    age_to(keeper, clock, "advisory")
    login.error = TransientError("Salesforce answered 503")
    with caplog.at_level(logging.WARNING, logger="sf_credproc"):
        assert keeper.obtain() is old
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "serving the cached one" in warnings[0].getMessage()


@pytest.mark.parametrize(
    ("state", "error", "kept"),
    [
        ("advisory", KeySourceError("kms:Sign denied"), False),
        ("mandatory", TransientError("Salesforce answered 503"), False),
        ("mandatory", LoginRateExceeded("login rate exceeded"), True),
        ("advisory", CoolingDown("cooling down", seconds_left=300), True),
        ("expired", LoginRateExceeded("login rate exceeded"), False),
    ],
)
def test_what_a_failure_does_follows_the_refresh_table(
    keeper: CredentialKeeper,
    clock: ManualClock,
    login: GatedLogin,
    state: str,
    error: Exception,
    kept: bool,
) -> None:
    old = keeper.obtain()
    age_to(keeper, clock, state)
    login.error = error
    if kept:
        assert keeper.obtain() is old
    else:
        with pytest.raises(type(error)):
            keeper.obtain()
    assert keeper.held is old


def test_compare_and_refresh_replaces_the_rejected_token_once(
    keeper: CredentialKeeper, login: GatedLogin
) -> None:
    old = keeper.obtain()
    rejected = token_sha256(old.access_token)
    login.gate.clear()
    login.arrived.clear()
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = [pool.submit(keeper.obtain, rejected_sha256=rejected) for _ in range(50)]
        assert login.arrived.wait(WAIT_SECONDS)
        login.gate.set()
        tokens = {answer.result(WAIT_SECONDS).access_token for answer in answers}
    assert len(tokens) == 1
    assert tokens != {old.access_token}
    assert login.calls == 2
    assert login.rejected == [None, rejected]
    # A report of the token replaced already is answered with the new one, without a login.
    assert keeper.obtain(rejected_sha256=rejected).access_token in tokens
    assert login.calls == 2


def test_a_report_of_a_token_not_held_costs_no_login(
    keeper: CredentialKeeper, login: GatedLogin
) -> None:
    held = keeper.obtain()
    assert keeper.obtain(rejected_sha256=token_sha256("another token")) is held
    assert login.calls == 1


def test_replace_fetch_forgets_the_token_of_another_identity(
    keeper: CredentialKeeper, clock: ManualClock, login: GatedLogin
) -> None:
    keeper.obtain()
    other = GatedLogin(clock)
    keeper.replace_fetch(other, WINDOWS, forget=False)
    assert keeper.held is not None  # the same identity: the token stays
    keeper.replace_fetch(other, WINDOWS, forget=True)
    assert keeper.held is None
    keeper.obtain()
    assert (login.calls, other.calls) == (1, 1)


def test_retry_delays_grow_with_jitter_and_are_capped() -> None:
    rng = random.Random(7)
    delays = [retry_delay_seconds(failures, rng) for failures in range(1, 12)]
    assert 0.5 <= delays[0] <= 1.0
    assert all(delay <= MAX_RETRY_SECONDS for delay in delays)
    assert delays[-1] >= MAX_RETRY_SECONDS / 2
    assert sorted(delays[:5]) == delays[:5]


def test_the_refresher_logs_in_at_once_then_in_the_advisory_window_only(
    keeper: CredentialKeeper, clock: ManualClock, login: GatedLogin
) -> None:
    seen: list[Credential] = []
    refresher = BackgroundRefresher(keeper, clock, on_credential=seen.append)
    assert refresher.run_once()
    assert refresher.obtained.is_set()
    refresher.run_once()
    assert login.calls == 1
    age_to(keeper, clock, "advisory")
    refresher.run_once()
    assert login.calls == 2
    assert [c.access_token for c in seen] == [f"00Dxx0000000001!token.number.{n}" for n in (1, 2)]


def test_the_refresher_backs_off_after_a_failure_and_recovers(
    keeper: CredentialKeeper, clock: ManualClock, login: GatedLogin
) -> None:
    failures: list[Exception] = []
    refresher = BackgroundRefresher(keeper, clock, on_failure=failures.append, rng=random.Random(1))
    login.error = TransientError("Salesforce answered 503")
    assert not refresher.run_once()
    refresher.run_once()  # within the backoff: no second attempt
    assert (login.calls, len(failures), refresher.failures) == (1, 1, 1)
    clock.advance(MAX_RETRY_SECONDS)
    login.error = None
    assert refresher.run_once()
    assert (login.calls, refresher.failures) == (2, 0)


def test_the_refresher_retries_later_after_a_kept_token(
    keeper: CredentialKeeper, clock: ManualClock, login: GatedLogin
) -> None:
    refresher = BackgroundRefresher(keeper, clock, rng=random.Random(1))
    refresher.run_once()
    age_to(keeper, clock, "advisory")
    login.error = TransientError("Salesforce answered 503")
    refresher.run_once()  # the token is kept, and the next try waits for the backoff
    refresher.run_once()
    assert (login.calls, refresher.failures) == (2, 1)


def test_the_refresher_thread_follows_the_clock_and_stops(
    keeper: CredentialKeeper, clock: ManualClock, login: GatedLogin
) -> None:
    changed = threading.Event()
    seen: list[Credential] = []

    def on_credential(credential: Credential) -> None:
        seen.append(credential)
        changed.set()

    refresher = BackgroundRefresher(keeper, clock, on_credential=on_credential, poll_seconds=0.01)
    refresher.start()
    try:
        assert changed.wait(WAIT_SECONDS)
        changed.clear()
        age_to(keeper, clock, "advisory")
        assert changed.wait(WAIT_SECONDS)
    finally:
        refresher.stop()
    assert len(seen) == 2
    assert not any(t.name == "sf-credproc-refresh" and t.is_alive() for t in threading.enumerate())
