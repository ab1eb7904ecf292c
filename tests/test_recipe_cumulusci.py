"""CumulusCI: ``--format cumulusci`` and ``exec --cumulusci-org NAME``, proven with the real ``cci``.

The real client is cumulusci 4.10 from PyPI, in a virtual environment of its own (it needs Python
3.11 to 3.13 and pins old libraries, so it is no part of the ``[test]`` extra): ``.ci/run`` installs
it and names its ``cci`` in ``SF_CREDPROC_TEST_CUMULUSCI``. ``cci org info NAME --json`` is the
read-only command (without ``--json`` it first asks the package index for a newer version); it runs
against the emulator over HTTPS, trusting the test CA through ``REQUESTS_CA_BUNDLE`` (CumulusCI
uses requests), in a private HOME and working directory, so it writes nothing of the user's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from faulty_emulator import FaultyEmulator
from helpers import CLIENT_ID, EXE, USERNAME, get_args, run_cli, run_process
from readme_recipes import recipe

from sf_credproc.cumulusci import DISABLE_REFRESH_VARIABLE
from sf_credproc.keeper import token_sha256

CUMULUSCI_ENV = "SF_CREDPROC_TEST_CUMULUSCI"
SETUP = (
    f"{CUMULUSCI_ENV} is not set, so the real CumulusCI is not run: .ci/run installs it; by hand, "
    "python3.11 -m venv .venv-cumulusci && .venv-cumulusci/bin/pip install cumulusci==4.10.1 && "
    f"export {CUMULUSCI_ENV}=$PWD/.venv-cumulusci/bin/cci"
)
#: What CumulusCI reads from ``CUMULUSCI_ORG_<NAME>`` (sf_credproc/cumulusci.py says why).
ORG_FIELDS = {"access_token", "instance_url", "id", "org_id", "username"}


@pytest.fixture
def cci(env: dict[str, str], tmp_path: Path) -> Path:
    """A directory on ``env``'s PATH holding ``cci`` and ``sf-credproc``, as a user's PATH would;
    the test is skipped, saying how to set it up, when CumulusCI is not installed."""
    installed = os.environ.get(CUMULUSCI_ENV)
    if not installed:
        pytest.skip(SETUP)
    program = Path(installed)
    assert program.is_file() and os.access(program, os.X_OK), f"{CUMULUSCI_ENV}={installed}"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cci").symlink_to(program)
    (bin_dir / EXE.name).symlink_to(EXE)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return bin_dir


def exec_args(org: FaultyEmulator, key: str, *extra: str) -> list[str]:
    """``exec`` with the get options of the test org (``get_args`` without the command)."""
    return ["exec", *get_args(org, key)[1:], *extra]


def org_infos(stdout: str, org: FaultyEmulator) -> list[dict[str, Any]]:
    """The orgs ``cci org info --json`` printed, each token replaced by ``sha256:<hex>`` at once,
    so that no assertion can show one. An org is a JSON object from a line ``{`` to a line ``}``
    (``json.dumps(indent=4)``); the other lines are cci's own (without a keyring it first logs
    "Unable to store an encryption key" on stdout)."""
    for token in org.sessions:
        stdout = stdout.replace(token, "sha256:" + token_sha256(token))
    documents: list[dict[str, Any]] = []
    lines: list[str] = []
    for line in stdout.splitlines():
        if line == "{" or lines:
            lines.append(line)
        if line == "}" and lines:
            documents.append(json.loads("\n".join(lines)))
            lines = []
    return documents


def assert_cci_used_the_token(info: dict[str, Any], org: FaultyEmulator) -> None:
    """cci reports the org as the emulator knows it, read with the token it was given (its
    ``userinfo`` and ``Organization`` calls), and never logged in itself."""
    assert info["org_id"] == org.org_id
    assert info["username"] == USERNAME
    assert info["instance_url"] == org.url
    issued = {"sha256:" + token_sha256(token) for token in org.sessions}
    assert info["access_token"] in issued, "cci did not report the token it was given"
    assert info["userinfo"]["preferred_username"] == USERNAME  # GET /services/oauth2/userinfo
    assert info["org_type"] == "Developer Edition"  # GET .../sobjects/Organization/<id>
    assert org.token_request_count == 1  # sf-credproc's login; none by cci


def assert_nothing_kept(home: Path, org: FaultyEmulator) -> None:
    """cci saved no org, and no file of its HOME holds the token but sf-credproc's cache and cci's
    log (``~/.cumulusci/logs/cci.log*``, a copy of what cci printed: ``--json`` prints the token)."""
    assert (home / ".cumulusci").is_dir(), "cci did not run with the private HOME"
    allowed = (home / "cache" / "sf-credproc", home / ".cumulusci" / "logs")
    tokens = list(org.sessions)
    for path in home.rglob("*"):
        assert path.suffix != ".org", f"cci saved an org: {path.relative_to(home)}"
        if path.is_file() and not any(folder in path.parents for folder in allowed):
            text = path.read_text(errors="replace")
            holds_a_token = any(token in text for token in tokens)
            assert not holds_a_token, f"a token in {path.relative_to(home)}"


# --- the real cci --------------------------------------------------------------------------------


@pytest.mark.parametrize("server", [False, True], ids=["exec", "exec-server"])
def test_cci_org_info_reads_the_org_exec_exports(
    cci: Path, org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path, server: bool
) -> None:
    extra = ["--server"] if server else []
    command = ["--cumulusci-org", "dev", "--", "cci", "org", "info", "dev", "--json"]
    args = exec_args(org, key, *extra, *command)
    # --server runs the child beside an endpoint: as a process, as a user runs it.
    run = run_process(args, env, timeout=180) if server else run_cli(args, env, timeout=180)
    assert run.code == 0, run.stderr
    (info,) = org_infos(run.stdout, org)
    assert_cci_used_the_token(info, org)
    assert_nothing_kept(Path(env["HOME"]), org)


def test_readme_cumulusci_recipe(
    cci: Path, org: FaultyEmulator, key_file: Path, env: dict[str, str], tmp_path: Path
) -> None:
    block = recipe("cumulusci")
    assert block.language == "sh"
    # The README's commands take their settings from the default profile, where a user keeps them.
    config = Path(env["XDG_CONFIG_HOME"]) / "sf-credproc" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "[profile.default]\n"
        f'client_id = "{CLIENT_ID}"\n'
        f'username = "{USERNAME}"\n'
        f'login_url = "{org.url}"\n'
        f'key = "file:{key_file}"\n'
    )
    done = subprocess.run(
        ["sh", "-ec", block.text],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    first, second = org_infos(done.stdout, org)
    for info in (first, second):
        assert_cci_used_the_token(info, org)  # the second line's get was a cache hit
    assert first["access_token"] == second["access_token"]
    assert_nothing_kept(Path(env["HOME"]), org)


# --- the format and the option, without cci ------------------------------------------------------


def without_token(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with its ``access_token`` as ``sha256:<hex>``: assertions never show a token."""
    return {**document, "access_token": "sha256:" + token_sha256(document["access_token"])}


def test_format_cumulusci_is_the_org_json(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    credential = run_cli(get_args(org, key), env).credential()
    run = run_cli(get_args(org, key, "--format", "cumulusci"), env)
    assert run.code == 0, run.stderr
    assert run.stdout.endswith("}\n") and run.stdout.count("\n") == 1
    document = without_token(json.loads(run.stdout))
    assert document == {
        "access_token": "sha256:" + token_sha256(credential["AccessToken"]),
        "instance_url": credential["InstanceUrl"],
        "id": credential["Id"],
        "org_id": credential["OrgId"],
        "username": credential["Username"],
    }
    assert set(document) == ORG_FIELDS
    assert document["org_id"] == org.org_id
    assert org.token_request_count == 1  # the second get was served from the cache


def test_format_cumulusci_is_answered_by_the_fast_path(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    args = get_args(org, key, "--format", "cumulusci")
    first = run_process(args, env)
    assert first.code == 0, first.stderr
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(EXE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    same_output = done.stdout == first.stdout
    assert same_output, "the cache hit printed another org"
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "sf_credproc.fast_path" in imported
    assert "sf_credproc.cli.main" not in imported  # answered without the full command
    assert org.token_request_count == 1


def test_exec_exports_the_org_and_disables_cci_refresh(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    printed = json.loads(run_cli(get_args(org, key, "--format", "cumulusci"), env).stdout)
    expected = without_token(printed)
    show = "import json, os; print(json.dumps(dict(os.environ)))"
    # --format chooses get's output; exec's variables are the same whatever it says.
    args = exec_args(org, key, "--format", "env", "--cumulusci-org", "qa_2")
    run = run_cli([*args, "--", sys.executable, "-c", show], env)
    assert run.code == 0, run.stderr
    child = json.loads(run.stdout)
    assert without_token(json.loads(child["CUMULUSCI_ORG_QA_2"])) == expected
    assert child[DISABLE_REFRESH_VARIABLE] == "1"
    assert "sha256:" + token_sha256(child["SF_ACCESS_TOKEN"]) == expected["access_token"]
    names = sorted(name for name in child if name.startswith("CUMULUSCI_"))
    assert names == [DISABLE_REFRESH_VARIABLE, "CUMULUSCI_ORG_QA_2"]
    assert org.token_request_count == 1


def test_exec_without_the_option_exports_nothing_for_cci(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    show = "import json, os; print(json.dumps(sorted(os.environ)))"
    run = run_cli([*exec_args(org, key), "--", sys.executable, "-c", show], env)
    assert run.code == 0, run.stderr
    assert not [name for name in json.loads(run.stdout) if name.startswith("CUMULUSCI_")]


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        ("Dev", "--cumulusci-org dev (exported as CUMULUSCI_ORG_DEV)"),
        ("my-org", "--cumulusci-org my_org (exported as CUMULUSCI_ORG_MY_ORG)"),
        ("", "--cumulusci-org dev "),
        ("_x", "--cumulusci-org x "),
        ("a" * 65, "--cumulusci-org " + "a" * 64 + " "),
        ("dev\nX=1", "--cumulusci-org dev_x_1 "),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "cumulusci"])
def test_a_name_cci_cannot_read_back_is_exit_2_before_any_login(
    org: FaultyEmulator, key: str, env: dict[str, str], name: str, fix: str, fmt: str
) -> None:
    args = exec_args(org, key, "--format", fmt, "--cumulusci-org", name, "--", "true")
    run = run_cli(args, env)
    run.assert_failed(2, "is not an org name CumulusCI reads from a variable", fix)
    assert org.token_request_count == 0


def test_get_takes_no_cumulusci_org(org: FaultyEmulator, key: str, env: dict[str, str]) -> None:
    run = run_cli(get_args(org, key, "--cumulusci-org", "dev"), env)
    run.assert_failed(2, "--cumulusci-org")
    assert org.token_request_count == 0


def test_the_endpoint_serves_format_cumulusci(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    from serve_fixtures import ServeProcess, serve_args
    from serve_http import get_json, wait_ready

    with ServeProcess(serve_args(org, key), env) as server:
        wait_ready(server.url)
        answer = get_json(server.url, server.token, query={"format": "cumulusci"})
        assert answer.status == 200
        document = answer.json()
        assert set(document) == ORG_FIELDS
        assert document["access_token"] in org.sessions
        assert document["org_id"] == org.org_id
