"""The config file as users keep it, read by the installed command (XDG location, profiles)."""

from __future__ import annotations

from pathlib import Path

from helpers import CLIENT_ID, USERNAME, run_cli

from sf_credproc.emulator import SalesforceEmulator


def test_profiles_from_the_xdg_config_file(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    config = Path(env["XDG_CONFIG_HOME"]) / "sf-credproc" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f"""
[profile.default]
client_id = "{CLIENT_ID}"
username = "{USERNAME}"
login_url = "{org.url}"
key = "file:{key_file}"
session_ttl = 1800

[profile.broken]
client_id = "{CLIENT_ID}"
username = "someone-else@acme.example"
login_url = "{org.url}"
key = "file:{key_file}"
"""
    )
    credential = run_cli(["get"], env).credential()
    assert credential["AccessToken"] in org.sessions
    assert credential["Expiration"] > credential["IssuedAt"]

    # The environment selects a profile; a flag beats both.
    env["SF_CREDPROC_PROFILE"] = "broken"
    run_cli(["get"], env).assert_failed(4, "invalid user credentials")
    again = run_cli(["get", "--username", USERNAME], env).credential()
    assert again == credential  # the same identity as the default profile: served from the cache
    assert len(org.token_requests) == 2
