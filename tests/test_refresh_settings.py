"""The settings of the refresh windows and of compare and refresh: ``--min-ttl`` (advisory),
``--mandatory-ttl``, their defaults that scale with ``--session-ttl``, and ``--rejected-sha256``;
``cache list`` naming each entry's state."""

from __future__ import annotations

import calendar
import json
import time
from pathlib import Path

import pytest
from clocks import SkippingClock
from faulty_emulator import FaultyEmulator
from helpers import CLIENT_ID, USERNAME, base_env, get_args, run_cli

from sf_credproc.config.settings import resolve_keywords

#: Settings errors come before any key, AWS or Salesforce call: no org needed.
KEY = "kms:alias/app-key"
GET = ["get", "--client-id", CLIENT_ID, "--username", USERNAME, "--key", KEY]


@pytest.fixture
def home_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return base_env(home)


def write_profile(env: dict[str, str], body: str) -> None:
    path = Path(env["XDG_CONFIG_HOME"]) / "sf-credproc" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[profile.default]\n" + body)


@pytest.mark.parametrize(
    ("session_ttl", "min_ttl", "mandatory_ttl", "advisory", "mandatory"),
    [
        (None, None, None, 900, 300),  # the default session of 2 hours: botocore's 15 and 5 min
        (3600, None, None, 900, 300),
        (1200, None, None, 300, 100),  # min(900, 1200 / 4), min(300, 1200 / 12)
        (900, None, None, 225, 75),  # Salesforce's shortest session timeout
        (7200, 60, None, 60, 60),  # the mandatory default capped at an explicit --min-ttl
        (7200, 600, None, 600, 300),
        (7200, 600, 600, 600, 600),  # equal: one window, the behaviour before two existed
        (7200, 600, 0, 600, 0),
    ],
)
def test_window_defaults_scale_with_the_session(
    home_env: dict[str, str],
    session_ttl: int | None,
    min_ttl: int | None,
    mandatory_ttl: int | None,
    advisory: int,
    mandatory: int,
) -> None:
    settings = resolve_keywords(
        environ=home_env,
        client_id=CLIENT_ID,
        username=USERNAME,
        key=KEY,
        session_ttl=session_ttl,
        min_ttl=min_ttl,
        mandatory_ttl=mandatory_ttl,
    )
    assert (settings.min_ttl_seconds, settings.mandatory_ttl_seconds) == (advisory, mandatory)


def test_the_windows_come_from_variables_and_profiles_too(home_env: dict[str, str]) -> None:
    write_profile(home_env, "session_ttl = 3600\nmin_ttl = 1200\nmandatory_ttl = 400\n")
    settings = resolve_keywords(environ=home_env, client_id=CLIENT_ID, username=USERNAME, key=KEY)
    assert (settings.min_ttl_seconds, settings.mandatory_ttl_seconds) == (1200, 400)
    environ = {**home_env, "SF_CREDPROC_MANDATORY_TTL": "500", "SF_CREDPROC_MIN_TTL": "700"}
    settings = resolve_keywords(environ=environ, client_id=CLIENT_ID, username=USERNAME, key=KEY)
    assert (settings.min_ttl_seconds, settings.mandatory_ttl_seconds) == (700, 500)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ["--min-ttl", "600", "--mandatory-ttl", "601"],
            ["--mandatory-ttl 601", "above --min-ttl 600", "at most 600"],
        ),
        (  # above the default advisory window of a 20-minute session (300 s)
            ["--session-ttl", "1200", "--mandatory-ttl", "400"],
            ["--mandatory-ttl 400", "--min-ttl 300 (from the default", "at most 300"],
        ),
        (
            ["--session-ttl", "1200", "--min-ttl", "1200"],
            ["--min-ttl 1200", "not below --session-ttl 1200"],
        ),
        (
            ["--session-ttl", "1200", "--min-ttl", "5000"],
            ["--min-ttl 5000", "not below --session-ttl 1200"],
        ),
        (["--mandatory-ttl", "86401"], ["--mandatory-ttl"]),
        (["--mandatory-ttl", "-1"], ["--mandatory-ttl"]),
    ],
)
def test_windows_that_contradict_each_other_are_usage_errors(
    home_env: dict[str, str], args: list[str], needles: list[str]
) -> None:
    run_cli([*GET, *args], home_env).assert_failed(2, *needles)


def test_a_mandatory_window_from_the_environment_is_checked_against_the_default(
    home_env: dict[str, str],
) -> None:
    env = {**home_env, "SF_CREDPROC_MANDATORY_TTL": "1000"}  # the default advisory is 900
    run_cli(GET, env).assert_failed(2, "SF_CREDPROC_MANDATORY_TTL", "at most 900")


@pytest.mark.parametrize(
    "value",
    [
        "00Dxx0000000001!AQ0AQH0dMHZfz972Szmpkb58urFRkgeBGsxL",  # the token itself, by mistake
        "0" * 63,
        "0" * 65,
        "g" * 64,
        "",
        "sha256:" + "0" * 64,
    ],
)
def test_a_rejected_digest_that_is_not_64_hex_digits_is_refused_unechoed(
    home_env: dict[str, str], value: str
) -> None:
    run = run_cli([*GET, "--rejected-sha256", value], home_env)
    run.assert_failed(2, "--rejected-sha256", "64 hexadecimal digits", "sha256sum")
    if value:
        assert value not in run.stderr
    env = {**home_env, "SF_CREDPROC_REJECTED_SHA256": value}
    if value:  # an empty variable is no report at all
        by_variable = run_cli(GET, env)
        by_variable.assert_failed(2, "SF_CREDPROC_REJECTED_SHA256", "64 hexadecimal digits")
        assert value not in by_variable.stderr


def test_an_upper_case_digest_is_accepted(home_env: dict[str, str]) -> None:
    settings = resolve_keywords(
        environ=home_env,
        client_id=CLIENT_ID,
        username=USERNAME,
        key=KEY,
        rejected_sha256="AB" * 32,
    )
    assert settings.rejected_sha256 == "ab" * 32


def test_a_rejected_digest_is_no_profile_key(home_env: dict[str, str]) -> None:
    """It names one token, now: a profile would report the same token for ever."""
    write_profile(home_env, f'rejected_sha256 = "{"0" * 64}"\n')
    run_cli(GET, home_env).assert_failed(2, "unknown key 'rejected_sha256'")


def test_cache_list_names_each_state(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    clock = SkippingClock()
    org.clock = clock.time
    windows = ["--session-ttl", "1200", "--min-ttl", "600", "--mandatory-ttl", "300"]
    credential = run_cli(get_args(org, key, *windows), env, clock=clock).credential()
    expiration = calendar.timegm(time.strptime(credential["Expiration"], "%Y-%m-%dT%H:%M:%SZ"))

    def listed_state(seconds_left: float) -> str:
        clock.advance(max(0.0, expiration - seconds_left - clock.time()))
        listing = run_cli(["cache", "list", "--json", *windows], env, clock=clock)
        assert listing.code == 0, listing.stderr
        (row,) = [json.loads(line) for line in listing.stdout.splitlines()]
        text = run_cli(["cache", "list", *windows], env, clock=clock).stdout
        assert row["state"] in text
        return str(row["state"])

    assert [listed_state(left) for left in (900, 450, 150, -5)] == [
        "fresh",
        "advisory",
        "mandatory",
        "expired",
    ]
