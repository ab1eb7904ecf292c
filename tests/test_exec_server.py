"""``sf-credproc exec --server -- COMMAND``: the child gets an endpoint instead of a token.

As aws-vault's ``exec --ecs-server``: the command runs as a child with ``SF_CREDPROC_SERVER_URL``
and ``SF_CREDPROC_SERVER_TOKEN`` (besides today's variables, without the secrets that unlocked the
key); the endpoint lives as long as the child, signals reach the child, and the exit status is the
child's (128+N after a death by signal N). The console script runs as a process: exit statuses and
signals are what a process shows.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from faulty_emulator import FaultyEmulator
from helpers import (
    EXE,
    SECRETS,
    USERNAME,
    Run,
    assert_no_leaks,
    get_args,
    pem_private,
    run_process,
    with_default_sigint,
)
from serve_fixtures import SOON_SECONDS, refuses_connections

from sf_credproc.config.serve_options import SERVER_TOKEN_ENV, SERVER_URL_ENV

#: The child: fetches the credential from its endpoint as a client would (urllib, the URL and the
#: raw token from its environment), writes the server token to argv[2] for the leak check, prints
#: what it saw, and exits with argv[1] (a number, or a signal's name to die of).
CHILD = r"""
import hashlib, json, os, signal, sys, urllib.request
url = os.environ["SF_CREDPROC_SERVER_URL"]
token = os.environ["SF_CREDPROC_SERVER_TOKEN"]
with open(sys.argv[2], "w") as out:
    out.write(token)
request = urllib.request.Request(url, headers={"Authorization": token})
with urllib.request.urlopen(request, timeout=60) as answer:
    status, document = answer.status, json.load(answer)
sha = lambda text: hashlib.sha256(text.encode()).hexdigest()
print(json.dumps({
    "url": url,
    "status": status,
    "username": document["Username"],
    "token_sha256": sha(document["AccessToken"]),
    "env_token_sha256": sha(os.environ.get("SF_ACCESS_TOKEN", "")),
    "server_token_sha256": sha(token),
    "names": sorted(os.environ),
}), flush=True)
end = sys.argv[1]
if end.isdigit():
    sys.exit(int(end))
os.kill(os.getpid(), getattr(signal, end))
"""

#: The child for signals: says it is ready, then exits 7 on SIGTERM (saying so).
WAITING_CHILD = r"""
import os, signal, sys, time
def stop(signum, frame):
    os.write(1, b"got %d\n" % signum)  # not print: the signal may come while print flushes
    os._exit(7)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(120)
sys.exit(1)
"""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def exec_server(org: FaultyEmulator, key: str, *command: str, verbose: bool = False) -> list[str]:
    args = ["exec", "--server", *get_args(org, key)[1:]]
    return [*args, *(["-v"] if verbose else []), "--", *command]


def child_report(stdout: str) -> dict[str, Any]:
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    report: dict[str, Any] = json.loads(lines[0])
    return report


def server_token_of(path: Path) -> str:
    token = path.read_text()
    SECRETS.add(token)
    return token


@pytest.mark.parametrize("status", [0, 3])
def test_the_child_fetches_from_its_endpoint_and_its_status_is_ours(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path, status: int
) -> None:
    token_file = tmp_path / "server-token"
    args = exec_server(org, key, sys.executable, "-c", CHILD, str(status), str(token_file))
    run = run_process(args, env)
    assert run.code == status, run.stderr
    report = child_report(run.stdout)
    assert report["status"] == 200
    assert report["username"] == USERNAME
    assert report["url"].startswith("http://127.0.0.1:"), report["url"]
    assert report["url"].endswith("/credential"), report["url"]
    # The same token as today's variables: the one login of the run.
    assert report["token_sha256"] == report["env_token_sha256"]
    assert org.token_request_count == 1
    assert refuses_connections(report["url"]), "the endpoint outlived the child"
    server_token = server_token_of(token_file)
    assert server_token not in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("name", ["SIGKILL", "SIGUSR1"])
def test_a_child_killed_by_a_signal_is_128_plus_n(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path, name: str
) -> None:
    token_file = tmp_path / "server-token"
    args = exec_server(org, key, sys.executable, "-c", CHILD, name, str(token_file))
    run = run_process(args, env)
    assert run.code == 128 + getattr(signal, name), run.stderr
    report = child_report(run.stdout)
    assert refuses_connections(report["url"]), "the endpoint outlived the child"
    assert "Traceback" not in run.stderr
    server_token_of(token_file)


def test_the_child_gets_a_fresh_server_token_and_no_secret_variable(
    org: FaultyEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    passphrase = "exec-server-child-must-not-see-this"
    env["SF_TEST_KEY_PEM"] = pem_private(app_key, passphrase.encode()).decode()
    env["SF_CREDPROC_KEY_PASSPHRASE"] = passphrase
    parent_token = "parent-server-token-" + "x" * 20
    SECRETS.add(parent_token)
    env[SERVER_TOKEN_ENV] = parent_token
    env[SERVER_URL_ENV] = "http://127.0.0.1:9/credential"  # another endpoint: not the child's
    env["UNRELATED_SETTING"] = "kept"
    token_file = tmp_path / "server-token"
    command = (sys.executable, "-c", CHILD, "0", str(token_file))
    run = run_process(exec_server(org, "env:SF_TEST_KEY_PEM", *command), env)
    assert run.code == 0, run.stderr
    report = child_report(run.stdout)
    names = set(report["names"])
    assert "SF_CREDPROC_KEY_PASSPHRASE" not in names
    assert "SF_TEST_KEY_PEM" not in names
    assert {SERVER_URL_ENV, SERVER_TOKEN_ENV, "SF_ACCESS_TOKEN", "UNRELATED_SETTING"} <= names
    assert report["server_token_sha256"] != sha256(parent_token)
    assert report["url"] != env[SERVER_URL_ENV]
    server_token_of(token_file)


def test_access_log_lines_only_with_verbose(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    token_file = tmp_path / "server-token"
    command = (sys.executable, "-c", CHILD, "0", str(token_file))
    quiet = run_process(exec_server(org, key, *command), env)
    assert quiet.code == 0, quiet.stderr
    assert "/credential" not in quiet.stderr, quiet.stderr
    server_token_of(token_file)
    verbose = run_process(exec_server(org, key, *command, verbose=True), env)
    assert verbose.code == 0, verbose.stderr
    assert any("/credential" in line for line in verbose.stderr.splitlines()), verbose.stderr
    server_token = server_token_of(token_file)
    assert server_token not in verbose.stderr


def test_a_missing_command_is_exit_2_before_any_login(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    run = run_process(exec_server(org, key, "no-such-command-for-sf-credproc"), env)
    run.assert_failed(2, "not found")
    assert org.token_request_count == 0


def test_sigterm_reaches_the_child_and_its_status_is_ours(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    args = exec_server(org, key, sys.executable, "-c", WAITING_CHILD)
    process = subprocess.Popen(
        with_default_sigint([str(EXE), *args]),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=SOON_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 7, stderr
    assert stdout == f"got {int(signal.SIGTERM)}\n"
    assert "Traceback" not in stderr
    assert_no_leaks(Run(process.returncode, stdout, stderr))
