"""The README's recipes for a running endpoint, run as written: the curl lines of "A local
credential endpoint" (a ``serve`` on TCP, its URL line in ``serve.out``, and one on a Unix socket),
and the shell and Python clients of "Using a running endpoint" under ``exec --server``."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import SECRETS, USERNAME, Run, assert_no_leaks
from readme_recipes import recipe
from recipe_fixtures import with_prod_profile
from serve_fixtures import ServeProcess, wait_ready

from sf_credproc.emulator import SalesforceEmulator

#: The README's socket path; the test's is in a short temporary directory.
README_SOCKET = "/run/app/sf.sock"

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short directory (0700): a Unix socket's path is limited to 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="sfep-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def shell(script: str, env: dict[str, str], cwd: Path) -> Run:
    done = subprocess.run(
        ["sh", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


@needs_curl
def test_curl_lines_against_serve(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, short_dir: Path
) -> None:
    """The first ``serve`` generates its token into ``$XDG_RUNTIME_DIR``; the socket's ``serve``
    is given one in ``SF_CREDPROC_SERVER_TOKEN``, as the third line reads it."""
    block = recipe("endpoint-curl-lines")
    assert block.language == "sh"
    with_prod_profile(env, org, key_file)
    env["XDG_RUNTIME_DIR"] = str(short_dir)
    socket = short_dir / "sf.sock"
    with contextlib.ExitStack() as servers:
        tcp = servers.enter_context(
            ServeProcess(["serve", "--profile", "prod"], env, token_in_env=False)
        )
        (short_dir / "serve.out").write_text(tcp.stdout)  # what `serve > serve.out` leaves
        wait_ready(tcp.url)
        tcp.token = (short_dir / "sf-credproc" / "server-token").read_text().strip()
        SECRETS.add(tcp.token)
        unix = servers.enter_context(
            ServeProcess(["serve", "--profile", "prod", "--socket", str(socket)], env)
        )
        wait_ready(unix.url)
        env["SF_CREDPROC_SERVER_TOKEN"] = unix.token
        done = shell(block.text.replace(README_SOCKET, str(socket)), env, short_dir)
    assert done.code == 0 and done.stderr == "", done.stderr
    token, document = done.stdout.split("\n", 1)
    assert token in org.sessions
    assert f'"AccessToken": "{token}"' in document and USERNAME in document
    assert org.token_request_count == 1  # the second server found the first one's token cached


@needs_curl
def test_worker_under_exec_server(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    """``worker.sh`` holds the block's lines after the ``exec`` line, and, between them, what a
    worker would meet: its token refused (the test revokes it at Salesforce's revoke endpoint).
    The endpoint confirms it dead and logs in once more; nothing else logs in."""
    command, *worker_lines = recipe("exec-server-worker").lines()
    assert command.endswith(" -- ./worker.sh"), command
    assert len(worker_lines) == 2, worker_lines
    revoke = (
        'printf "%s\\n" "$token"\n'
        f'curl -fsS --cacert "$REQUESTS_CA_BUNDLE" -d "token=$token" {org.url}/services/oauth2/revoke'
    )
    worker = tmp_path / "worker.sh"
    worker.write_text("#!/bin/sh\nset -e\n" + "\n".join([worker_lines[0], revoke, worker_lines[1]]))
    worker.chmod(0o700)
    with_prod_profile(env, org, key_file)

    done = shell(command, env, tmp_path)
    assert_no_leaks(Run(done.code, "", done.stderr))
    assert done.code == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert org.sessions[first].revoked
    assert second != first and not org.sessions[second].revoked
    assert org.token_request_count == 2  # exec --server's login, then the one refresh


def test_python_client_under_exec_server(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    """The block runs as written inside a program started by ``exec --server``, which then uses
    what it made: the session's auth through a revoked token (a 401, then the endpoint's refresh)."""
    block = recipe("endpoint-python")
    assert block.language == "python"
    (tmp_path / "client.py").write_text(block.text)
    program = (
        "import runpy, sys, requests\n"
        "made = runpy.run_path('client.py')\n"
        "credential, session = made['credential'], made['session']\n"
        "print(credential.access_token)\n"
        f"requests.post('{org.url}/services/oauth2/revoke', data={{'token': credential.access_token}}, timeout=30).raise_for_status()\n"
        f"answer = session.get('{org.url}/services/data/v62.0', timeout=30)\n"
        "print(answer.status_code, answer.request.headers['Authorization'].removeprefix('Bearer '))\n"
    )
    with_prod_profile(env, org, key_file)
    done = subprocess.run(
        [
            "sf-credproc",
            "exec",
            "--server",
            "--profile",
            "prod",
            "--",
            sys.executable,
            "-c",
            program,
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert_no_leaks(Run(done.returncode, "", done.stderr))
    assert done.returncode == 0, done.stderr
    first, answer = done.stdout.splitlines()
    status, second = answer.split()
    assert status == "200"
    assert org.sessions[first].revoked and not org.sessions[second].revoked
    assert org.token_request_count == 2  # exec --server's login, then one refresh after the 401
