"""Each output format consumed by its real client: sh and bash, curl, GitHub's env file, sf, exec."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import CLIENT_ID, EXE, USERNAME, get_args, run_cli, run_process
from readme_recipes import recipe
from sf_cli import needs_sf, redacted, run_line, settings_environment, sf_environment

from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.emulator.records import TokenFormat

#: A token no shell may interpret: quotes, expansions, separators, globs, a backslash.
NASTY = "$(touch PWNED)`touch PWNED`'\"\\;&|<>*?{a,b}$HOME ~!#"


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_env_format_evaluates_safely(
    shell: str, org: SalesforceEmulator, env: dict[str, str], key: str, tmp_path: Path
) -> None:
    org.token_suffix = NASTY
    credential = run_cli(get_args(org, key), env).credential()
    assert credential["AccessToken"].endswith(NASTY)
    script = (
        'eval "$("$SF_CREDPROC" "$@")" || exit 9\n'
        'printf "%s\\n%s\\n%s\\n%s\\n%s\\n" "$SF_ACCESS_TOKEN" "$SFDX_ACCESS_TOKEN" '
        '"$SF_TARGET_ORG" "$SF_INSTANCE_URL" "$SF_CREDPROC_EXPIRATION"\n'
    )
    done = subprocess.run(
        [shell, "-c", script, shell, *get_args(org, key, "--format", "env")],
        env={**env, "SF_CREDPROC": str(EXE)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    token, sfdx_token, target_org, instance_url, expiration = done.stdout.splitlines()
    assert token == sfdx_token == target_org == credential["AccessToken"]
    assert instance_url == credential["InstanceUrl"]
    assert expiration == credential["Expiration"]
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_with_token_and_header_formats(
    org: SalesforceEmulator, env: dict[str, str], key: str, ca_bundle: str
) -> None:
    userinfo = f"{org.url}/services/oauth2/userinfo"
    common = '"$SF_CREDPROC" "$@" --format'
    for script in (
        f'curl -fsS --cacert "$CA" -H "Authorization: Bearer $({common} token)" "$URL"',
        f'{common} header | curl -fsS --cacert "$CA" -H @- "$URL"',
    ):
        done = subprocess.run(
            ["sh", "-c", script, "sh", *get_args(org, key)],
            env={**env, "SF_CREDPROC": str(EXE), "CA": ca_bundle, "URL": userinfo},
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(done.stdout)["preferred_username"] == USERNAME
    assert org.token_request_count == 1  # the second format came from the cache


def test_token_and_header_formats_exactly(
    org: SalesforceEmulator, env: dict[str, str], key: str
) -> None:
    token = run_cli(get_args(org, key), env).credential()["AccessToken"]
    assert run_cli(get_args(org, key, "--format", "token"), env).stdout == token + "\n"
    header = run_cli(get_args(org, key, "--format", "header"), env).stdout
    assert header == f"Authorization: Bearer {token}\n"
    env["SF_CREDPROC_FORMAT"] = "token"
    assert run_cli(get_args(org, key), env).stdout == token + "\n"


def test_github_format(
    org: SalesforceEmulator, env: dict[str, str], key: str, tmp_path: Path
) -> None:
    github_env = tmp_path / "github_env"
    github_env.write_text("EARLIER=1\n")
    env["GITHUB_ENV"] = str(github_env)
    run = run_cli(get_args(org, key, "--format", "github"), env)
    assert run.code == 0, run.stderr
    token = next(iter(org.sessions))
    assert run.stdout == f"::add-mask::{token}\n"
    lines = github_env.read_text().splitlines()
    assert lines[0] == "EARLIER=1"
    variables = dict(line.split("=", 1) for line in lines[1:])
    assert variables["SF_ACCESS_TOKEN"] == variables["SFDX_ACCESS_TOKEN"] == token
    assert variables["SF_TARGET_ORG"] == token
    assert variables["SF_INSTANCE_URL"] == variables["SF_ORG_INSTANCE_URL"] == org.url
    assert set(variables) == {
        "SF_ACCESS_TOKEN", "SF_INSTANCE_URL", "SF_TARGET_ORG", "SF_ORG_INSTANCE_URL",
        "SFDX_ACCESS_TOKEN", "SFDX_INSTANCE_URL", "SF_CREDPROC_EXPIRATION",
    }  # fmt: skip
    # Twice: the file is appended to again (never served silently from the fast path).
    run_process(get_args(org, key, "--format", "github"), env)
    assert github_env.read_text().count("SF_ACCESS_TOKEN=") == 2


def test_github_format_outside_actions(
    org: SalesforceEmulator, env: dict[str, str], key: str
) -> None:
    run = run_cli(get_args(org, key, "--format", "github"), env)
    run.assert_failed(2, "$GITHUB_ENV", "--format env")


def test_sf_format_matches_the_salesforce_cli_shape(
    org: SalesforceEmulator, env: dict[str, str], key: str
) -> None:
    document = json.loads(run_cli(get_args(org, key, "--format", "sf"), env).stdout)
    assert document["status"] == 0
    assert set(document["result"]) == {"accessToken", "instanceUrl", "username", "orgId"}
    assert document["result"]["accessToken"] in org.sessions
    assert document["result"]["orgId"] == org.org_id


def test_unknown_format(org: SalesforceEmulator, env: dict[str, str], key: str) -> None:
    run_cli(get_args(org, key, "--format", "yaml"), env).assert_failed(
        2, "--format 'yaml'", "json, env"
    )
    assert org.token_request_count == 0


def test_fast_path_replays_formats_for_the_current_token(
    org: SalesforceEmulator, env: dict[str, str], key: str
) -> None:
    first = run_cli(get_args(org, key, "--format", "token"), env).stdout
    assert run_process(get_args(org, key, "--format", "token"), env).stdout == first
    refreshed = run_cli(get_args(org, key, "--refresh"), env).credential()["AccessToken"]
    assert run_process(get_args(org, key, "--format", "token"), env).stdout == refreshed + "\n"
    assert org.token_request_count == 2


def test_fast_path_replays_every_variable_of_the_env_format(
    org: SalesforceEmulator, env: dict[str, str], key: str
) -> None:
    first = run_cli(get_args(org, key, "--format", "env"), env).stdout
    token = next(iter(org.sessions))
    assert f"export SF_TARGET_ORG={shlex.quote(token)}\n" in first
    assert run_process(get_args(org, key, "--format", "env"), env).stdout == first
    assert org.token_request_count == 1


@pytest.mark.parametrize("token_format", ["opaque", "jwt"])
def test_sf_target_org_is_offered_for_a_session_id_only(
    org: SalesforceEmulator, env: dict[str, str], key: str, token_format: TokenFormat
) -> None:
    """sf takes a session id as its org, not a JWT-based access token (tests/test_recipe_sf.py)."""
    org.apps[CLIENT_ID].token_format = token_format
    lines = run_cli(get_args(org, key, "--format", "env"), env).stdout.splitlines()
    names = {line.removeprefix("export ").split("=", 1)[0] for line in lines}
    assert {"SF_ACCESS_TOKEN", "SF_ORG_INSTANCE_URL"} <= names
    assert ("SF_TARGET_ORG" in names) is (token_format == "opaque")


def test_exec_passes_the_environment_and_the_exit_status(
    org: SalesforceEmulator, env: dict[str, str], key: str
) -> None:
    args = ["exec", *get_args(org, key)[1:], "--"]
    script = 'printf "%s %s" "$SF_ACCESS_TOKEN" "$SF_ORG_INSTANCE_URL"; exit 7'
    run = run_cli([*args, "sh", "-c", script], env)
    assert run.code == 7
    token, instance_url = run.stdout.split(" ")
    assert token in org.sessions and instance_url == org.url
    assert run.stderr == ""
    again = run_cli([*args, "true"], env)
    assert again.code == 0
    assert org.token_request_count == 1  # exec uses the cache too


def test_exec_with_a_missing_command(
    org: SalesforceEmulator, env: dict[str, str], key: str
) -> None:
    args = ["exec", *get_args(org, key)[1:], "--", "no-such-command-anywhere"]
    run_cli(args, env).assert_failed(2, "'no-such-command-anywhere' not found")
    run_cli(["exec", *get_args(org, key)[1:]], env).assert_failed(2, "exec needs a command")
    assert org.token_request_count == 0  # a typo costs no login


@needs_sf
@pytest.mark.parametrize("token_format", ["opaque", "jwt"])
def test_the_salesforce_cli_logs_in_with_exec(
    org: SalesforceEmulator,
    env: dict[str, str],
    key: str,
    ca_bundle: str,
    tmp_path: Path,
    token_format: TokenFormat,
) -> None:
    org.apps[CLIENT_ID].token_format = token_format
    environment = {**sf_environment(env, ca_bundle), **settings_environment(org, key)}
    login, display = recipe("sf-login-access-token").lines()
    run = run_line(login, environment, tmp_path)
    assert run.returncode == 0, redacted(run.stdout + run.stderr, org.sessions)
    result = json.loads(run.stdout)["result"]
    assert result["username"] == USERNAME
    assert result["orgId"] == org.org_id
    assert result["accessToken"] in org.sessions
    assert org.request_counts["/services/oauth2/userinfo"] >= 1
    # Unlike the recipe without auth files, this one leaves the session on disk until logout.
    assert (Path(env["HOME"]) / ".sfdx" / f"{USERNAME}.json").is_file()

    assert connected_status(run_line(display, environment, tmp_path)) == "Connected"
    # After logout, sf's stored session is dead at Salesforce too.
    run_cli(["logout", *get_args(org, key)[1:]], env)
    assert connected_status(run_line(display, environment, tmp_path)) != "Connected"


def connected_status(shown: subprocess.CompletedProcess[str]) -> str:
    """The "Connected Status" row of ``sf org display``'s table."""
    rows = [line for line in shown.stdout.splitlines() if "Connected Status" in line]
    assert len(rows) == 1, shown.stderr
    return rows[0].replace("│", " ").split("Connected Status", 1)[1].strip()
