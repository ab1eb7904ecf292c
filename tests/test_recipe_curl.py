"""The README's curl recipe for the endpoint, run line by line as written with the real curl:
``/healthz``, ``/credential`` (JSON and ``?format=token``) over TCP, and over a Unix socket."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import CLIENT_ID, EXE, SECRETS, USERNAME
from readme_recipes import recipe
from serve_fixtures import ServeProcess, assert_no_secret_in, wait_ready

from sf_credproc.emulator import SalesforceEmulator

#: The port the README names; the test serves on a free one.
README_ADDRESS = "127.0.0.1:9911"


def readme_curl_block() -> list[str]:
    """The lines of the README's curl recipe for the endpoint ("### curl" in the recipes)."""
    block = recipe("serve-curl")
    assert block.language == "sh"
    return block.text.splitlines()


def shell(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def shell_words(line: str, env: dict[str, str]) -> list[str]:
    """The words of ``line`` after the shell's expansions (quotes, variables), as sh passes them."""
    done = shell(f"set -- {line}; printf '%s\\0' \"$@\"", env)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\0")[:-1]


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """A short ``XDG_RUNTIME_DIR`` (0700): a Unix socket's path is limited to 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="sfrt-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_lines(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, runtime_dir: Path
) -> None:
    # The README's `--profile prod`, in the config file where a user keeps it.
    config = Path(env["XDG_CONFIG_HOME"]) / "sf-credproc" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "[profile.prod]\n"
        f'client_id = "{CLIENT_ID}"\n'
        f'username = "{USERNAME}"\n'
        f'login_url = "{org.url}"\n'
        f'key = "file:{key_file}"\n'
    )
    env["XDG_RUNTIME_DIR"] = str(runtime_dir)
    address = README_ADDRESS
    outputs: list[str] = []
    with contextlib.ExitStack() as servers:
        for line in readme_curl_block():
            if line.startswith("sf-credproc serve "):
                assert line.endswith(" &"), line
                words = shell_words(line.removesuffix(" &"), env)
                assert words[0] == EXE.name
                args = ["127.0.0.1:0" if word == README_ADDRESS else word for word in words[1:]]
                server = servers.enter_context(ServeProcess(args, env, token_in_env=False))
                if server.port:
                    address = f"127.0.0.1:{server.port}"
                wait_ready(server.url)
                token_file = runtime_dir / "sf-credproc" / "server-token"
                server.token = token_file.read_text().strip()
                SECRETS.add(server.token)
                assert oct(token_file.stat().st_mode & 0o777) == "0o600"
            elif re.fullmatch(r"\w+=\S+", line):
                name, value = line.split("=", 1)
                env[name] = shell(f"printf %s {value}", env).stdout
            else:
                assert line.startswith("curl -fsS "), line
                done = shell(line.replace(README_ADDRESS, address), env)
                assert done.returncode == 0, (line, done.stderr)
                assert done.stderr == ""
                outputs.append(done.stdout)
    healthz, document, token, over_socket = outputs
    assert json.loads(healthz) == {"ready": True}
    credential = json.loads(document)
    assert credential["AccessToken"] in org.sessions
    assert credential["Username"] == USERNAME
    assert token == credential["AccessToken"] + "\n"
    assert json.loads(over_socket)["AccessToken"] == credential["AccessToken"]
    assert org.token_request_count == 1  # the second server found the first one's token cached
    assert_no_secret_in(healthz)
