"""Settings resolution: flag > environment variable > config profile > default, with origins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import base_env, run_cli

from sf_credproc.config.options import GET_OPTIONS
from sf_credproc.config.settings import resolve_settings
from sf_credproc.errors import ConfigError

FLAGS_NONE: dict[str, Any] = {option.name: None for option in GET_OPTIONS}


def flags(**values: Any) -> dict[str, Any]:
    return {**FLAGS_NONE, "profile": None, "verbose": False, **values}


def write_config(home: Path, text: str) -> Path:
    path = home / "config" / "sf-credproc" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


PROFILES = """
[profile.default]
client_id = "from-profile"
username = "profile@acme.example"
key = "kms:alias/profile-key"
session_ttl = 3600
timeout = 12.5
trusted_hosts = ["sso.acme.example"]

[profile.sandbox]
client_id = "sandbox-app"
username = "integration@acme.example.dev"
login_url = "https://acme--dev.sandbox.my.salesforce.com"
key = "secretsmanager:sf/dev#pem"
"""


def test_defaults_apply_when_nothing_else_sets_a_value(tmp_path: Path) -> None:
    settings = resolve_settings(
        flags(client_id="c", username="u", key="kms:alias/k"), base_env(tmp_path)
    )
    assert settings.login_url.base == "https://login.salesforce.com"
    assert settings.audience == "https://login.salesforce.com"
    assert settings.session_ttl_seconds == 7200
    assert settings.timeout_seconds == 30.0
    assert settings.profile is None
    assert settings.origins == {
        "client_id": "--client-id",
        "username": "--username",
        "key": "--key",
    }


def test_profile_default_is_used_when_present(tmp_path: Path) -> None:
    path = write_config(tmp_path, PROFILES)
    settings = resolve_settings(flags(), base_env(tmp_path))
    assert settings.profile == "default"
    assert settings.client_id == "from-profile"
    assert settings.session_ttl_seconds == 3600
    assert settings.timeout_seconds == 12.5
    assert settings.trusted_hosts == ("sso.acme.example",)
    assert str(settings.key) == "kms:alias/profile-key"
    assert settings.origins["client_id"] == f"profile 'default' in {path}"


def test_environment_beats_profile_and_flag_beats_environment(tmp_path: Path) -> None:
    write_config(tmp_path, PROFILES)
    env = {
        **base_env(tmp_path),
        "SF_CREDPROC_CLIENT_ID": "from-env",
        "SF_CREDPROC_USERNAME": "env@acme.example",
        "SF_CREDPROC_SESSION_TTL": "1800",
    }
    settings = resolve_settings(flags(client_id="from-flag"), env)
    assert settings.client_id == "from-flag"
    assert settings.origins["client_id"] == "--client-id"
    assert settings.username == "env@acme.example"
    assert settings.origins["username"] == "SF_CREDPROC_USERNAME"
    assert settings.session_ttl_seconds == 1800
    assert settings.origins["key"].startswith("profile 'default'")


def test_empty_environment_variable_counts_as_unset(tmp_path: Path) -> None:
    write_config(tmp_path, PROFILES)
    env = {**base_env(tmp_path), "SF_CREDPROC_CLIENT_ID": ""}
    assert resolve_settings(flags(), env).client_id == "from-profile"


@pytest.mark.parametrize("how", ["flag", "env"])
def test_named_profile_and_sandbox_audience(how: str, tmp_path: Path) -> None:
    write_config(tmp_path, PROFILES)
    env = base_env(tmp_path)
    if how == "env":
        env["SF_CREDPROC_PROFILE"] = "sandbox"
        settings = resolve_settings(flags(), env)
    else:
        settings = resolve_settings(flags(profile="sandbox"), env)
    assert settings.profile == "sandbox"
    assert settings.audience == "https://test.salesforce.com"
    assert settings.key is not None
    assert settings.key.field == "pem"
    assert settings.trusted_hosts == ()  # profiles do not inherit from [profile.default]


def test_trusted_hosts_from_flags_and_environment(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "SF_CREDPROC_TRUSTED_HOSTS": "a.example, b.example"}
    base = {"client_id": "c", "username": "u", "key": "env:K"}
    assert resolve_settings(flags(**base), env).trusted_hosts == ("a.example", "b.example")
    chosen = resolve_settings(flags(**base, trusted_hosts=["c.example"]), env)
    assert chosen.trusted_hosts == ("c.example",)


def test_config_file_from_sf_credproc_config(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('[profile.default]\nclient_id = "elsewhere"\n')
    env = {**base_env(tmp_path), "SF_CREDPROC_CONFIG": str(path)}
    settings = resolve_settings(flags(username="u", key="env:K"), env)
    assert settings.client_id == "elsewhere"
    assert settings.config_path == str(path)


def test_passphrase_never_in_repr(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "SF_CREDPROC_KEY_PASSPHRASE": "hunter2-secret"}
    settings = resolve_settings(flags(client_id="c", username="u", key="file:/k.pem"), env)
    assert settings.key_passphrase == "hunter2-secret"
    assert "hunter2-secret" not in repr(settings)


CONFIG_ERRORS = [
    (
        "unknown key",
        '[profile.default]\nclient_key = "x"\n',
        ("unknown key 'client_key'", "client_id"),
    ),
    (
        "unknown top-level key",
        'client_id = "x"\n',
        ("unknown top-level key 'client_id'", "[profile.NAME]"),
    ),
    ("profile not a table", 'profile = "x"\n', ("'profile' is not a table",)),
    (
        "named profile not a table",
        "[profile]\ndefault = 3\n",
        ("profile 'default' is not a table",),
    ),
    ("TOML syntax", "[profile.default\nclient_id = 1\n", ("not valid TOML", "line 1")),
    (
        "ttl as string",
        '[profile.default]\nclient_id = "c"\nsession_ttl = "2h"\n',
        ("--session-ttl", "profile 'default'"),
    ),
    (
        "ttl as float",
        '[profile.default]\nclient_id = "c"\nsession_ttl = 1.5\n',
        ("--session-ttl", "whole number"),
    ),
    ("timeout as bool", '[profile.default]\nclient_id = "c"\ntimeout = true\n', ("--timeout",)),
    (
        "quoted session ttl",
        '[profile.default]\nclient_id = "c"\nsession_ttl = "7200"\n',
        ("--session-ttl '7200'", "is a string", "without quotes: session_ttl = 7200"),
    ),
    (
        "quoted timeout",
        '[profile.default]\nclient_id = "c"\ntimeout = "12.5"\n',
        ("--timeout '12.5'", "is a string", "timeout = 12.5"),
    ),
    (
        "quoted min ttl",
        '[profile.default]\nclient_id = "c"\nmin_ttl = "60"\n',
        ("--min-ttl '60'", "is a string"),
    ),
    (
        "min ttl not below the profile's session ttl",
        '[profile.default]\nclient_id = "c"\nsession_ttl = 900\nmin_ttl = 900\n',
        ("--min-ttl 900", "not below --session-ttl 900", "profile 'default'"),
    ),
    (
        "client id as number",
        "[profile.default]\nclient_id = 42\n",
        ("--client-id", "non-empty string"),
    ),
    (
        "trusted hosts as string",
        '[profile.default]\nclient_id = "c"\ntrusted_hosts = "a.example"\n',
        ("--trusted-host", "list"),
    ),
    (
        "login URL untrusted",
        '[profile.default]\nclient_id = "c"\nlogin_url = "https://evil.example"\n',
        ("not a Salesforce domain", "profile 'default'"),
    ),
]


@pytest.mark.parametrize(
    ("text", "needles"), [row[1:] for row in CONFIG_ERRORS], ids=[row[0] for row in CONFIG_ERRORS]
)
def test_config_file_errors(text: str, needles: tuple[str, ...], tmp_path: Path) -> None:
    path = write_config(tmp_path, text)
    # Only --username and --key come from flags, so the profile's own values are the ones read.
    run = run_cli(["get", "--username", "u", "--key", "env:K"], base_env(tmp_path))
    run.assert_failed(2, *needles)
    if "TOML" not in needles[0]:
        assert str(path) in run.stderr


def test_config_file_not_utf8(tmp_path: Path) -> None:
    path = write_config(tmp_path, "")
    path.write_bytes(b'[profile.default]\nclient_id = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        resolve_settings(flags(), base_env(tmp_path))


# (id, session TTL as set or None, min TTL as set or None, the min TTL in force)
MIN_TTL_ROWS: list[tuple[str, str | None, str | None, int]] = [
    ("both defaults", None, None, 900),
    ("the README's 15-minute session", "900", None, 225),
    ("a 1-hour session keeps botocore's 15 minutes", "3600", None, 900),
    ("a 1-second session", "1", None, 0),
    ("explicit min ttl is kept", "900", "600", 600),
    ("explicit zero", "60", "0", 0),
]


@pytest.mark.parametrize(
    ("session_ttl", "min_ttl", "in_force"),
    [row[1:] for row in MIN_TTL_ROWS],
    ids=[row[0] for row in MIN_TTL_ROWS],
)
def test_min_ttl_scales_with_the_session_unless_set(
    session_ttl: str | None, min_ttl: str | None, in_force: int, tmp_path: Path
) -> None:
    """min(900, session_ttl / 4) when --min-ttl is not set: a 15-minute session is cacheable."""
    settings = resolve_settings(
        flags(client_id="c", username="u", key="env:K", session_ttl=session_ttl, min_ttl=min_ttl),
        base_env(tmp_path),
    )
    assert settings.min_ttl_seconds == in_force
    assert settings.min_ttl_seconds < settings.session_ttl_seconds or in_force == 0


@pytest.mark.parametrize(
    ("argv", "env", "needles"),
    [
        (["--session-ttl", "900", "--min-ttl", "900"], {}, ("--min-ttl 900 (from --min-ttl)",)),
        (["--min-ttl", "7200"], {}, ("not below --session-ttl 7200 (from the default)",)),
        (
            ["--session-ttl", "600"],
            {"SF_CREDPROC_MIN_TTL": "900"},
            ("--min-ttl 900 (from SF_CREDPROC_MIN_TTL)", "--session-ttl 600 (from --session-ttl)"),
        ),
    ],
    ids=["flags", "default session", "environment"],
)
def test_explicit_min_ttl_not_below_the_session_is_refused(
    argv: list[str], env: dict[str, str], needles: tuple[str, ...], tmp_path: Path
) -> None:
    base = ["--client-id", "c", "--username", "u", "--key", "env:K"]
    for command in (["get", *base, *argv], ["cache", "list", *argv]):
        run = run_cli(command, {**base_env(tmp_path), **env})
        run.assert_failed(2, *needles, "no cached token would ever be served", "Lower --min-ttl")
