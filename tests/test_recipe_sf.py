"""The README's recommended Salesforce CLI recipe, run as written with the real ``sf``: each command
under ``sf-credproc exec`` with the token as its org (``SF_TARGET_ORG``), and no auth file after."""

from __future__ import annotations

import json
from fnmatch import fnmatch
from pathlib import Path

from helpers import CLIENT_ID, run_cli
from readme_recipes import recipe
from sf_cli import (
    files_holding,
    files_under,
    needs_sf,
    redacted,
    run_line,
    settings_environment,
    sf_environment,
)

from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.emulator.records import new_account

#: All that sf 2.134.6 writes in HOME with a token as its org (the README says so): the key it would
#: encrypt auth files with, an empty alias file, its log, and update-check stamps in its cache
#: directory (``$XDG_CACHE_HOME/sf``). None of them is an auth file or holds the token.
SF_OWN_FILES = (".sfdx/key.json", ".sfdx/alias.json", ".sf/sf-*.log", "cache/sf/*")


@needs_sf
def test_sf_commands_run_with_no_auth_file(
    org: SalesforceEmulator, env: dict[str, str], key: str, ca_bundle: str, tmp_path: Path
) -> None:
    org.accounts = [new_account(f"Customer {n}") for n in range(5)]
    org.query_page_size = 2  # sf follows nextRecordsUrl twice
    environment = {**sf_environment(env, ca_bundle), **settings_environment(org, key)}
    lines = recipe("sf-without-auth-files").lines()
    [query_line] = [line for line in lines if " sf data query " in line]
    [display_line] = [line for line in lines if " sf org display " in line]
    assert len(lines) == 2

    queried = run_line(query_line, environment, tmp_path)
    assert queried.returncode == 0, redacted(queried.stdout + queried.stderr, org.sessions)
    result = json.loads(queried.stdout)["result"]
    assert (result["totalSize"], result["done"]) == (5, True)
    assert [record["Name"] for record in result["records"]] == [a["Name"] for a in org.accounts]
    assert [record["Id"] for record in result["records"]] == [a["Id"] for a in org.accounts]
    assert len([path for path in org.request_counts if "/query/01g" in path]) == 2

    shown = run_line(display_line, environment, tmp_path)
    assert shown.returncode == 0, redacted(shown.stdout + shown.stderr, org.sessions)
    displayed = json.loads(shown.stdout)["result"]
    assert displayed["connectedStatus"] == "Connected"
    assert displayed["instanceUrl"] == org.url
    assert org.org_id.startswith(displayed["id"])
    assert org.token_request_count == 1  # the second command's token came from the cache
    # --format sf names the token and the instance as sf does.
    ours = json.loads(run_cli(["get", "--format", "sf"], environment).stdout)["result"]
    assert (ours["accessToken"], ours["instanceUrl"]) == (
        displayed["accessToken"],
        displayed["instanceUrl"],
    )

    home = Path(env["HOME"])
    written = [path for path in files_under(home) if "sf-credproc" not in path.parts]
    others = [p for p in written if not any(fnmatch(str(p), own) for own in SF_OWN_FILES)]
    assert others == []  # no <username>.json, no orgs/ directory, nothing else
    assert (home / ".sfdx" / "key.json").is_file()  # sf did run here, with this HOME
    alias = home / ".sfdx" / "alias.json"
    assert not alias.exists() or json.loads(alias.read_text()) == {"orgs": {}}
    holding = [
        path for path in files_holding(home, org.sessions) if "sf-credproc" not in path.parts
    ]
    assert holding == []  # sf's log included


@needs_sf
def test_a_jwt_access_token_is_not_offered_as_sf_s_org(
    org: SalesforceEmulator, env: dict[str, str], key: str, ca_bundle: str, tmp_path: Path
) -> None:
    """sf takes a session id as its org, not a JWT-based access token: exec leaves SF_TARGET_ORG
    out for one, so the user's own default org (logged in with the token) stays in force."""
    org.apps[CLIENT_ID].token_format = "jwt"
    environment = {**sf_environment(env, ca_bundle), **settings_environment(org, key)}
    listed = run_line("sf-credproc exec -- env", environment, tmp_path)
    assert listed.returncode == 0, listed.stderr
    names = {line.split("=", 1)[0] for line in listed.stdout.splitlines()}
    assert {"SF_ACCESS_TOKEN", "SF_ORG_INSTANCE_URL"} <= names
    assert "SF_TARGET_ORG" not in names
    [token] = org.sessions
    assert token.startswith("eyJ")
    # Why: given one anyway, sf finds no org at all.
    environment.update(SF_TARGET_ORG=token, SF_ORG_INSTANCE_URL=org.url)
    shown = run_line("sf org display --json", environment, tmp_path)
    assert shown.returncode != 0
    assert json.loads(shown.stdout)["name"] == "NoDefaultEnvError", redacted(shown.stdout, [token])
