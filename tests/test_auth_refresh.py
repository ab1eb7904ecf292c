"""``SalesforceAuth`` and ``get_credential`` under the refresh windows, and compare-and-refresh.

In this process, against the emulator over HTTPS, on a ``SkippingClock``: the token the emulator
issues is aged by advancing the clock, never by waiting. A login "in progress" is a token request
the emulator holds at a gate (``HoldingEmulator``) until the test opens it: no timing decides
which thread got which token.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import trustme
from clocks import SkippingClock
from cryptography.hazmat.primitives.asymmetric import rsa
from faulty_emulator import CannedResponse, FaultyEmulator
from helpers import CLIENT_ID, USERNAME, pem_public
from test_api import CaTrustingSession, query
from test_auth_redirect import ApiServer

from sf_credproc import (
    ConfigError,
    Credential,
    SalesforceAuth,
    SalesforceRefusedError,
    Settings,
    TransientError,
    get_credential,
)
from sf_credproc.emulator.handler import TOKEN_PATH, Connection
from sf_credproc.errors import LoginRateLimited

USERINFO_PATH = "/services/oauth2/userinfo"
#: The emulator's sessions and the credentials' Expiration: IssuedAt + 7200 s (the defaults).
SESSION_TTL = 7200
#: Seconds left on the token in each state under the default windows: --min-ttl 900 (stretched by
#: at most 10 % of jitter, never shortened) and --mandatory-ttl 300.
LEFT = {"advisory": 600, "mandatory": 100, "expired": -100}
THREADS = 20
#: A held token request is let through after this long even if a test forgot its gate.
HOLD_LIMIT_SECONDS = 120.0


class HoldingEmulator(FaultyEmulator):
    """The emulator whose token endpoint holds every request while ``gate`` is closed."""

    def __init__(self, **kwargs: Any) -> None:
        self.gate = threading.Event()
        self.gate.set()
        #: Set when a token request has arrived at the closed gate.
        self.held = threading.Event()
        super().__init__(**kwargs)

    def reset(self) -> None:
        self.gate.set()
        self.held.clear()
        super().reset()

    def intercept(self, path: str, connection: Connection) -> bool:
        if path == TOKEN_PATH and not self.gate.is_set():
            self.held.set()
            self.gate.wait(timeout=HOLD_LIMIT_SECONDS)
        return super().intercept(path, connection)


@pytest.fixture(scope="module")
def holding_server(ca: trustme.CA) -> Iterator[HoldingEmulator]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with HoldingEmulator(ssl_context=context) as emulator:
        yield emulator


@pytest.fixture
def held(holding_server: HoldingEmulator, app_key: rsa.RSAPrivateKey) -> Iterator[HoldingEmulator]:
    holding_server.reset()
    holding_server.register_app(CLIENT_ID, pem_public(app_key))
    holding_server.add_user(USERNAME, approve=[CLIENT_ID])
    yield holding_server
    holding_server.gate.set()  # never leave a handler thread waiting


def options_for(emulator: FaultyEmulator, key: str, env: dict[str, str]) -> dict[str, Any]:
    return {
        "client_id": CLIENT_ID,
        "username": USERNAME,
        "login_url": emulator.url,
        "key": key,
        "environ": env,
    }


def age_to(clock: SkippingClock, credential: Credential, seconds_left: float) -> None:
    """Move ``clock`` to when ``credential`` has ``seconds_left`` left."""
    clock.advance(credential.expiration - seconds_left - clock.time())


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def in_threads(count: int, work: Callable[[], Any]) -> list[threading.Thread]:
    """Start ``count`` threads running ``work`` together (a barrier lines them up)."""
    barrier = threading.Barrier(count)

    def run() -> None:
        barrier.wait()
        work()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive()


def sent_token(answer: requests.Response) -> str:
    return (answer.request.headers.get("Authorization") or "").removeprefix("Bearer ")


def warnings_of(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.levelno == logging.WARNING and getattr(record, "event", None) == event
    ]


# --- the advisory window: one thread refreshes, the others go on -------------------------------


def test_in_the_advisory_window_one_thread_refreshes_and_the_others_do_not_wait(
    held: HoldingEmulator, key: str, env: dict[str, str], ca_bundle: str
) -> None:
    clock = SkippingClock()
    auth = SalesforceAuth(clock=clock, **options_for(held, key, env))
    old = auth.credential
    age_to(clock, old, LEFT["advisory"])
    held.gate.clear()
    refreshed: list[requests.Response] = []

    def refresh_by_using() -> None:
        with CaTrustingSession(ca_bundle) as http:
            refreshed.append(query(http, held, auth))

    refresher = threading.Thread(target=refresh_by_using)
    refresher.start()
    assert held.held.wait(timeout=60)  # its login is in progress, and stays so
    answers: list[requests.Response] = []

    def use() -> None:
        with CaTrustingSession(ca_bundle) as http:
            answers.append(query(http, held, auth))

    join(in_threads(THREADS, use))
    # All of them answered while the refresh was still held at the emulator's gate.
    assert refresher.is_alive() and not refreshed
    assert [a.status_code for a in answers] == [200] * THREADS
    assert {sent_token(a) for a in answers} == {old.access_token}
    assert held.token_request_count == 1  # the held request is counted once it passes

    held.gate.set()
    join([refresher])
    (answer,) = refreshed
    assert answer.status_code == 200
    new = auth.credential
    assert sent_token(answer) == new.access_token != old.access_token
    assert held.token_request_count == 2 and auth.refreshes == 1


@pytest.mark.parametrize("start", ["mandatory", "expired", "no token yet"])
def test_in_the_mandatory_window_every_thread_waits_for_the_one_refresh(
    start: str, held: HoldingEmulator, key: str, env: dict[str, str], ca_bundle: str
) -> None:
    clock = SkippingClock()
    auth = SalesforceAuth(clock=clock, **options_for(held, key, env))
    old = None
    if start != "no token yet":
        old = auth.credential
        age_to(clock, old, LEFT[start])
    logins_before = held.token_request_count
    held.gate.clear()
    answers: list[requests.Response] = []

    def use() -> None:
        with CaTrustingSession(ca_bundle) as http:
            answers.append(query(http, held, auth))

    threads = in_threads(THREADS, use)
    assert held.held.wait(timeout=60)
    assert answers == []  # nobody may use the old token, nor go without one
    held.gate.set()
    join(threads)
    new = auth.credential
    assert [a.status_code for a in answers] == [200] * THREADS
    assert {sent_token(a) for a in answers} == {new.access_token}
    assert old is None or new.access_token != old.access_token
    assert held.token_request_count == logins_before + 1


# --- what each state does when the refresh fails (cache/refresh.py's table) ---------------------

FAILURES = ["transient", "rate limit", "permanent"]
#: (state, failure) → the error raised; absent: the current token is served, with one warning.
RAISES: dict[tuple[str, str], type[Exception]] = {
    ("advisory", "permanent"): SalesforceRefusedError,
    ("mandatory", "transient"): TransientError,
    ("mandatory", "permanent"): SalesforceRefusedError,
    ("expired", "transient"): TransientError,
    ("expired", "rate limit"): LoginRateLimited,
    ("expired", "permanent"): SalesforceRefusedError,
}


def fail_logins(org: FaultyEmulator, failure: str) -> None:
    if failure == "transient":  # Salesforce down: every attempt of the login answers 503
        org.canned_responses.extend([CannedResponse(503, b"<html>down</html>")] * 4)
    elif failure == "rate limit":
        org.login_limit_per_hour = 1  # the one login so far used it up
    else:
        org.users[USERNAME].approved_apps.clear()


@pytest.mark.parametrize("no_cache", [False, True], ids=["cache", "no-cache"])
@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("state", list(LEFT))
def test_each_state_and_failure_as_the_table_says(
    state: str,
    failure: str,
    no_cache: bool,
    org: FaultyEmulator,
    key: str,
    env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the cache, the cache keeps its entry; with ``no_cache``, the auth keeps its token:
    the outcome is the same."""
    clock = SkippingClock()
    auth = SalesforceAuth(clock=clock, no_cache=no_cache, **options_for(org, key, env))
    old = auth.credential
    age_to(clock, old, LEFT[state])
    fail_logins(org, failure)
    error = RAISES.get((state, failure))
    if error is not None:
        with pytest.raises(error):
            auth.credential  # noqa: B018
        assert warnings_of(caplog, "refresh") == []
    else:
        assert auth.credential == old
        (warning,) = warnings_of(caplog, "refresh")
        assert "serving the cached one" in warning.getMessage()
        assert old.access_token not in caplog.text
    # A transient failure is retried (4 attempts), except for a refresh the cache backs with a
    # usable token (the advisory window): one attempt, and the next use tries again.
    one_attempt = failure != "transient" or (state == "advisory" and not no_cache)
    assert org.token_request_count == 1 + (1 if one_attempt else 4)
    assert auth.refreshes == 0


@pytest.mark.parametrize("no_cache", [False, True], ids=["cache", "no-cache"])
def test_a_kept_token_is_refreshed_by_the_next_use(
    no_cache: bool, org: FaultyEmulator, key: str, env: dict[str, str], ca_bundle: str
) -> None:
    clock = SkippingClock()
    auth = SalesforceAuth(clock=clock, no_cache=no_cache, **options_for(org, key, env))
    old = auth.credential
    age_to(clock, old, LEFT["advisory"])
    fail_logins(org, "transient")
    with CaTrustingSession(ca_bundle) as http:
        kept = query(http, org, auth)
        assert kept.status_code == 200 and sent_token(kept) == old.access_token
        # One attempt when the cache backs the refresh with its entry; the auth's own token
        # (no cache) is kept after the login's usual retries.
        attempts = 4 if no_cache else 1
        assert org.token_request_count == 1 + attempts
        # Salesforce is back: the next request refreshes first (still the advisory window).
        org.canned_responses.clear()
        renewed = query(http, org, auth)
    assert renewed.status_code == 200
    assert sent_token(renewed) == auth.credential.access_token != old.access_token
    assert org.token_request_count == 1 + attempts + 1 and auth.refreshes == 1


# --- compare and refresh after a 401 ---------------------------------------------------------


def test_a_revoked_session_costs_one_login_for_two_auths_sharing_a_cache(
    org: FaultyEmulator, key: str, env: dict[str, str], ca_bundle: str
) -> None:
    first, second = (SalesforceAuth(**options_for(org, key, env)) for _ in range(2))
    revoked = first.credential
    assert second.credential == revoked and org.token_request_count == 1  # from the cache
    org.revoke(revoked.access_token)  # an administrator ends the session
    answers: list[requests.Response] = []

    def use(auth: SalesforceAuth) -> Callable[[], None]:
        def call() -> None:
            with CaTrustingSession(ca_bundle) as http:
                answers.append(query(http, org, auth))

        return call

    threads = in_threads(THREADS // 2, use(first)) + in_threads(THREADS // 2, use(second))
    join(threads)
    assert [a.status_code for a in answers] == [200] * THREADS
    assert org.token_request_count == 2
    new = first.credential
    assert second.credential == new and new.access_token != revoked.access_token
    assert {sent_token(a) for a in answers} == {new.access_token}
    # Whoever saw the 401 after the replacement took the new token from the cache, unconfirmed.
    assert org.request_counts[USERINFO_PATH] == 1


def test_without_a_cache_the_auth_confirms_the_token_dead_itself(
    org: FaultyEmulator, key: str, env: dict[str, str], ca_bundle: str
) -> None:
    auth = SalesforceAuth(no_cache=True, **options_for(org, key, env))
    revoked = auth.credential.access_token
    org.revoke(revoked)
    with CaTrustingSession(ca_bundle) as http:
        answer = query(http, org, auth)
    assert answer.status_code == 200 and [r.status_code for r in answer.history] == [401]
    assert sent_token(answer) == auth.credential.access_token != revoked
    assert org.request_counts[USERINFO_PATH] == 1 and org.token_request_count == 2
    assert auth.refreshes == 1


@pytest.mark.parametrize("no_cache", [False, True], ids=["cache", "no-cache"])
def test_a_401_on_a_live_token_is_handed_back_without_a_login(
    no_cache: bool,
    org: FaultyEmulator,
    key: str,
    env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Salesforce's userinfo endpoint still accepts the token: a new session would not cure
    this 401 (a proxy, a permission, another org's URL), so it stands, as it came."""
    auth = SalesforceAuth(no_cache=no_cache, **options_for(org, key, env))
    token = auth.credential.access_token
    api = ApiServer(org)  # answers 401 INVALID_SESSION_ID to every token
    try:
        with requests.Session() as http:
            http.trust_env = False
            for _ in range(3):
                answer = http.get(f"http://127.0.0.1:{api.port}/services/data/", auth=auth)
                assert answer.status_code == 401 and answer.history == []
                assert answer.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    finally:
        api.stop()
    assert api.carried_token(f"127.0.0.1:{api.port}") == [f"Bearer {token}"] * 3  # no replay
    assert org.token_request_count == 1 and auth.refreshes == 0
    assert org.request_counts[USERINFO_PATH] == 3  # one check per 401
    assert len(warnings_of(caplog, "compare-and-refresh")) == 3
    assert auth.credential.access_token == token and token not in caplog.text


def test_the_auth_ignores_a_rejected_digest_in_its_environment(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    """A digest names one token, now: an object that lives for days reports its own."""
    first = get_credential(**options_for(org, key, env))
    env["SF_CREDPROC_REJECTED_SHA256"] = sha256(first.access_token)
    auth = SalesforceAuth(**options_for(org, key, env))
    assert auth.credential == first
    assert org.request_counts[USERINFO_PATH] == 0 and org.token_request_count == 1


# --- get_credential(rejected_sha256=...) ------------------------------------------------------


def test_get_credential_compares_and_refreshes(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    options = options_for(org, key, env)
    live = get_credential(**options)
    # A live token reported (the 401 had another cause): the same token, no login.
    assert get_credential(**options, rejected_sha256=sha256(live.access_token)) == live
    assert org.token_request_count == 1 and org.request_counts[USERINFO_PATH] == 1
    # Dead: dropped, one login, however many callers report it at once.
    org.revoke(live.access_token)
    got: list[Credential] = []
    report = sha256(live.access_token).upper()  # as some tools print it
    join(in_threads(8, lambda: got.append(get_credential(**options, rejected_sha256=report))))
    (new,) = set(got)
    assert new.access_token != live.access_token and org.token_request_count == 2
    assert org.request_counts[USERINFO_PATH] == 2  # confirmed dead once
    # A late report of the old token: the cache holds a newer one, which is the answer.
    settings = Settings.from_profile(**options)
    assert get_credential(settings, environ=env, rejected_sha256=report) == new
    assert org.token_request_count == 2


@pytest.mark.parametrize("with_settings", [False, True], ids=["keywords", "settings"])
def test_get_credential_refuses_anything_but_a_digest(
    with_settings: bool, org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    options = options_for(org, key, env)
    token = get_credential(**options).access_token
    settings = Settings.from_profile(**options)

    def report(digest: str) -> Credential:
        if with_settings:
            return get_credential(settings, rejected_sha256=digest)
        return get_credential(**options, rejected_sha256=digest)

    for wrong in (token, sha256(token)[:63], sha256(token)[:63] + "g"):
        with pytest.raises(ConfigError, match=r"^rejected_sha256= .*64 hexadecimal") as refused:
            report(wrong)
        assert wrong not in str(refused.value) and token not in str(refused.value)
        assert "sha256sum" in (refused.value.hint or "")
    assert org.token_request_count == 1 and org.request_counts[USERINFO_PATH] == 0
