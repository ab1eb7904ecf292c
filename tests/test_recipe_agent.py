"""The README's agent recipe ("Files kept fresh"), run as written: the agent keeps three sinks,
and the last line sources the ``env`` sink and asks Salesforce's ``limits`` with curl. The sinks'
directory (``/var/run/sf``) is a temporary one; curl trusts the emulator's CA through
``CURL_CA_BUNDLE``, as a private CA would be trusted."""

from __future__ import annotations

import json
import shlex
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import pytest
from agent_fixtures import agent_process, eventually
from helpers import USERNAME
from readme_recipes import recipe
from recipe_fixtures import with_prod_profile

from sf_credproc.emulator import SalesforceEmulator

#: The README's directory for the sinks.
README_DIR = "/var/run/sf/"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_agent_sinks_and_the_env_file(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, tmp_path: Path, ca_bundle: str
) -> None:
    block = recipe("agent-sinks")
    command, consumer = (
        block.text.replace("\\\n", " ").replace(README_DIR, f"{tmp_path}/").splitlines()
    )
    words = shlex.split(command)
    assert words[:2] == ["sf-credproc", "agent"], words
    with_prod_profile(env, org, key_file)
    sinks = {name: tmp_path / name for name in ("credential.json", "token", "sf.env")}

    with agent_process(words[1:], env) as agent:
        assert eventually(lambda: all(path.exists() for path in sinks.values()))
        done = subprocess.run(
            ["sh", "-c", consumer],
            env={**env, "CURL_CA_BUNDLE": ca_bundle},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        stopped = agent.stop(signal.SIGTERM)
    assert stopped.code == 0, stopped.stderr
    credential = json.loads(sinks["credential.json"].read_text())
    assert credential["Username"] == USERNAME and credential["AccessToken"] in org.sessions
    assert sinks["token"].read_text() == credential["AccessToken"] + "\n"
    modes = {name: stat.S_IMODE(path.stat().st_mode) for name, path in sinks.items()}
    assert modes == {"credential.json": 0o600, "token": 0o640, "sf.env": 0o600}
    assert done.returncode == 0, done.stderr
    limits = json.loads(done.stdout)
    assert "DailyApiRequests" in limits, limits  # Salesforce's limits document, not an error
    assert org.token_request_count == 1
