"""The endpoint across the refresh windows, on a test's clock.

The ``Endpoint`` serves from a thread of this process on a ``SkippingClock``; its background
refresher looks every 50 ms, so moving the clock into a window is followed by what the refresher
does there, with no waiting for real expiry. The windows are the defaults: ``--min-ttl`` 900 s
(the advisory window, stretched by at most 10 % of jitter) and ``--mandatory-ttl`` 300 s.
"""

from __future__ import annotations

import pytest
from clocks import SkippingClock
from faulty_emulator import CannedResponse, FaultyEmulator
from serve_fixtures import (
    Answer,
    assert_error,
    credential_of,
    endpoint_in_process,
    get_json,
    request,
    wait_until,
)
from test_auth_refresh import LEFT, age_to

TRANSIENT_KINDS = ("TransientError", "LoginRateLimited", "LoginRateExceeded", "CoolingDown")
#: More canned outages than any number of retries in a test: Salesforce stays down until cleared.
OUTAGE = [CannedResponse(503, b"<html>Service Unavailable</html>")] * 2000


def token_of(answer: Answer) -> str:
    assert answer.status == 200, answer
    token: str = answer.json()["AccessToken"]
    return token


def test_the_token_is_refreshed_in_the_advisory_window_without_any_client_asking(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    clock = SkippingClock()
    with endpoint_in_process(org, key, env, clock=clock) as served:
        first = get_json(served.url, served.token).json()
        assert org.token_request_count == 1
        age_to(clock, credential_of(first), LEFT["advisory"])
        wait_until(lambda: org.token_request_count == 2, "a refresh in the advisory window")
        wait_until(lambda: served.endpoint.keeper.refreshes == 1, "the new token held")
        second = get_json(served.url, served.token).json()
        assert second["AccessToken"] != first["AccessToken"]
        assert credential_of(second).expiration > credential_of(first).expiration
        # The new token is fresh: no further login, however often clients ask.
        for _ in range(5):
            assert token_of(request(served.url, served.token)) == second["AccessToken"]
        assert org.token_request_count == 2


def test_salesforce_down_across_a_refresh(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    """Still-valid token served in the advisory window; 503 with ``Retry-After`` in the mandatory
    window and after expiry; a new token once Salesforce is back."""
    clock = SkippingClock()
    with endpoint_in_process(org, key, env, clock=clock) as served:
        first = get_json(served.url, served.token).json()
        old = first["AccessToken"]
        logins = org.token_request_count
        with org.lock:
            org.canned_responses.extend(OUTAGE)
        age_to(clock, credential_of(first), LEFT["advisory"])
        wait_until(lambda: org.token_request_count > logins, "a refresh attempted")
        wait_until(lambda: served.endpoint.refresher.failures >= 1, "the refresh failed")
        for _ in range(3):
            assert token_of(request(served.url, served.token)) == old  # kept, still valid
        for seconds_left in (LEFT["mandatory"], LEFT["expired"]):
            age_to(clock, credential_of(first), seconds_left)
            answer = request(served.url, served.token)
            assert_error(answer, 503, TRANSIENT_KINDS, code=5)
            retry_after = answer.header("Retry-After")
            assert retry_after is not None and retry_after.isdigit(), answer.headers
            assert old not in answer.text
        with org.lock:
            org.canned_responses.clear()

        def recovered() -> bool:
            return request(served.url, served.token).status == 200

        wait_until(recovered, "a credential once Salesforce is back")
        new = token_of(request(served.url, served.token))
        assert new != old
        with org.lock:
            assert org.session_for(new) is not None


@pytest.mark.parametrize("where", ["mandatory", "expired"])
def test_a_client_in_the_mandatory_window_gets_the_new_token_after_one_login(
    org: FaultyEmulator, key: str, env: dict[str, str], where: str
) -> None:
    """Past the advisory window a client waits for the refresh (its own or the refresher's) and
    gets the new token: never the old one, and one login between them."""
    clock = SkippingClock()
    with endpoint_in_process(org, key, env, clock=clock, poll_seconds=3600) as served:
        first = get_json(served.url, served.token).json()
        age_to(clock, credential_of(first), LEFT[where])
        new = token_of(request(served.url, served.token))
        assert new != first["AccessToken"]
        assert org.token_request_count == 2
