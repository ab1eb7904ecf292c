"""A fleet in the advisory window: each host's jitter (``disk.jitter_fraction``, from its host name
and the identity) sets when it refreshes, so hosts sharing one token through the DynamoDB tier
refresh at different moments, early and never late, and only the first one logs in.

Eight simulated hosts in this process, each a ``CredentialPipeline`` with its own host name and
its own local cache, on one clock that the emulator shares.
"""

from __future__ import annotations

import calendar
import time
from pathlib import Path

from clocks import ManualClock, SkippingClock
from faulty_emulator import CannedResponse, FaultyEmulator
from helpers import CLIENT_ID, USERNAME, get_args, process_environment, run_cli
from shared_tier import machine

from sf_credproc.cache.disk import MAX_JITTER_FRACTION, advisory_seconds, jitter_fraction
from sf_credproc.compose import CredentialPipeline, cache_identity
from sf_credproc.config.settings import resolve_keywords

HOSTS = [f"host-{number}" for number in range(8)]
SESSION_TTL = 1200
MIN_TTL = 600
MANDATORY_TTL = 60


def fleet(
    org: FaultyEmulator, environ: dict[str, str], key: str, tmp_path: Path, clock: ManualClock
) -> list[CredentialPipeline]:
    pipelines = []
    for host in HOSTS:
        settings = resolve_keywords(
            environ=environ,
            client_id=CLIENT_ID,
            username=USERNAME,
            login_url=org.url,
            key=key,
            session_ttl=SESSION_TTL,
            min_ttl=MIN_TTL,
            mandatory_ttl=MANDATORY_TTL,
            cache_dir=str(tmp_path / host),
        )
        pipelines.append(CredentialPipeline(settings, clock=clock, environ=environ, host=host))
    return pipelines


def test_a_fleet_refreshes_over_the_jitter_range_with_one_login(
    org: FaultyEmulator, shared: dict[str, str], key: str, tmp_path: Path
) -> None:
    clock = ManualClock(time.time())  # after the app was registered on the real clock
    org.clock = clock.time
    with process_environment(shared):
        hosts = fleet(org, shared, key, tmp_path, clock)
        first = hosts[0].obtain().credential
        assert all(host.obtain().credential == first for host in hosts[1:])  # shared hits
        assert org.token_request_count == 1

        stem = cache_identity(hosts[0].settings).file_stem
        due = {host: first.expiration - advisory_seconds(MIN_TTL, stem, host) for host in HOSTS}
        refreshed_at: dict[str, float] = {}
        clock.now = first.expiration - MIN_TTL * (1 + MAX_JITTER_FRACTION) - 5
        while clock.now <= first.expiration - MIN_TTL + 5:
            for name, host in zip(HOSTS, hosts, strict=True):
                credential = host.obtain().credential
                if credential != first:
                    refreshed_at.setdefault(name, clock.now)
            clock.now += 1

    # Each host moved to the new token the very second its own advisory window began: early
    # (never later than --min-ttl before expiry), and not all in the same second.
    assert refreshed_at == due
    assert all(
        first.expiration - MIN_TTL * (1 + MAX_JITTER_FRACTION)
        <= moment
        <= first.expiration - MIN_TTL
        for moment in refreshed_at.values()
    )
    moments = sorted(refreshed_at.values())
    assert len(set(moments)) >= 4 and moments[-1] - moments[0] >= 10, moments
    # The first host in its window logged in; the others copied its token from the shared tier.
    assert org.token_request_count == 2


def test_jitter_covers_its_range_and_never_shortens_the_window() -> None:
    stem = "0" * 64
    fractions = [jitter_fraction(stem, f"ip-10-0-{n // 256}-{n % 256}") for n in range(2000)]
    assert all(0 <= fraction < MAX_JITTER_FRACTION for fraction in fractions)
    assert min(fractions) < 0.005 and max(fractions) > 0.095
    # Stable: every invocation on a host agrees (the fast path included).
    assert jitter_fraction(stem, "host-1") == jitter_fraction(stem, "host-1")
    assert jitter_fraction(stem, "host-1") != jitter_fraction("1" * 64, "host-1")
    for host in HOSTS:
        window = advisory_seconds(MIN_TTL, stem, host)
        assert MIN_TTL <= window <= MIN_TTL * (1 + MAX_JITTER_FRACTION)


def test_the_window_rounded_up_reaches_the_top_of_its_range() -> None:
    """A jitter just under its maximum, rounded up to whole seconds, gives exactly the top of the
    range: 600 s * (1 + 0.0988) = 659.3 s becomes 660 s (an identity seen on a host named "vm")."""
    stem = "21ec5ce446308505ea2bd5dbcd8115f297012bf34d6464b4d7c3fdbbcdcced8e"
    assert MAX_JITTER_FRACTION - 0.002 < jitter_fraction(stem, "vm") < MAX_JITTER_FRACTION
    assert advisory_seconds(MIN_TTL, stem, "vm") == 660


def test_the_shared_tier_keeps_a_token_through_an_outage_like_the_local_cache(
    org: FaultyEmulator, shared: dict[str, str], key: str, tmp_path: Path
) -> None:
    """Two machines share a token; Salesforce goes down as it enters the advisory window: each
    serves it with one warning (and gives the lease back), fails in the mandatory window, and
    once Salesforce is back one login serves both."""
    clock = SkippingClock()
    org.clock = clock.time
    windows = ("--session-ttl", "1200", "--min-ttl", "600", "--mandatory-ttl", "300")
    # A deadline that outlasts a slow table on a loaded machine: the tier gets half of it, and a
    # tier that gives up would make a machine log in by itself (one more warning, one more login).
    args = get_args(org, key, *windows, "--timeout", "120")
    one, two = machine(shared, tmp_path, 1), machine(shared, tmp_path, 2)
    cached = run_cli(args, one, clock=clock).credential()
    copied = run_cli(args, two, clock=clock)
    assert copied.credential() == cached, copied.stderr
    expiration = calendar.timegm(time.strptime(cached["Expiration"], "%Y-%m-%dT%H:%M:%SZ"))
    org.canned_responses.extend([CannedResponse(503, b"<html>Maintenance</html>")] * 100)

    clock.advance(expiration - 450 - clock.time())  # the advisory window
    for environment in (one, two, one):
        before = org.token_request_count
        run = run_cli(args, environment, clock=clock)
        assert run.credential() == cached
        assert len(run.stderr.splitlines()) == 1, run.stderr
        assert "warning: could not refresh the Salesforce token" in run.stderr
        assert org.token_request_count == before + 1  # one attempt, backed by the kept token
    clock.advance(expiration - 150 - clock.time())  # the mandatory window
    for environment in (one, two):
        run_cli(args, environment, clock=clock).assert_failed(5, "HTML page")

    org.canned_responses.clear()
    logins = org.token_request_count
    new = run_cli(args, two, clock=clock).credential()
    assert new["AccessToken"] != cached["AccessToken"]
    assert run_cli(args, one, clock=clock).credential() == new
    assert org.token_request_count == logins + 1


def test_a_failing_shared_tier_never_makes_a_host_in_the_advisory_window_log_in_alone(
    org: FaultyEmulator, shared: dict[str, str], key: str, tmp_path: Path
) -> None:
    """A throttled or unreachable table is one warning; a host that holds a usable token (the
    advisory window) serves it instead of logging in by itself, so a failing tier cannot multiply
    a fleet's logins. In the mandatory window the host logs in alone, as without the tier."""
    clock = SkippingClock()
    org.clock = clock.time
    windows = ("--session-ttl", "1200", "--min-ttl", "600", "--mandatory-ttl", "300")
    args = get_args(org, key, *windows)
    one = machine(shared, tmp_path, 1)
    cached = run_cli(args, one, clock=clock).credential()
    expiration = calendar.timegm(time.strptime(cached["Expiration"], "%Y-%m-%dT%H:%M:%SZ"))
    unreachable = {**one, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}

    clock.advance(expiration - 450 - clock.time())  # the advisory window
    kept = run_cli(args, unreachable, clock=clock)
    assert kept.credential() == cached
    (warning,) = kept.stderr.splitlines()
    assert "shared cache" in warning and "unavailable" in warning
    assert org.token_request_count == 1  # no login of its own

    clock.advance(expiration - 150 - clock.time())  # the mandatory window
    alone = run_cli(args, unreachable, clock=clock)
    assert alone.credential()["AccessToken"] != cached["AccessToken"]
    assert org.token_request_count == 2
