"""The jsforce recipe (examples/jsforce): the real jsforce from npm, its token from ``serve``,
through a revoked session: 401 ``INVALID_SESSION_ID`` -> ``refreshFn`` -> the endpoint's
compare-and-refresh (``?rejected_sha256=``) -> exactly one login -> the query repeated and answered."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import IO, Any

import pytest
from helpers import EXE, USERNAME, Run, assert_no_leaks, get_args
from serve_fixtures import SOON_SECONDS, ServeProcess, serve_args, wait_ready

from sf_credproc.emulator import SalesforceEmulator

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "tests" / "consumers" / "node_modules"
PROGRAM = ROOT / "examples" / "jsforce" / "soql-lines.js"
QUERY = "SELECT Id, Username FROM User"


class LineProgram:
    """A program that answers each line on its stdin with one line on stdout."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        self.threads = [
            threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True),
            threading.Thread(
                target=lambda stream: self.stderr.extend(stream),
                args=(self.process.stderr,),
                daemon=True,
            ),
        ]
        for thread in self.threads:
            thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def ask(self, line: str) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        try:
            answer = self.lines.get(timeout=SOON_SECONDS)
        except queue.Empty:
            raise AssertionError(f"no answer; stderr: {''.join(self.stderr)!r}") from None
        assert answer is not None, f"the program exited; stderr: {''.join(self.stderr)!r}"
        return json.loads(answer)

    def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = self.process.wait(timeout=SOON_SECONDS)
        for thread in self.threads:
            thread.join(timeout=SOON_SECONDS)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=SOON_SECONDS)


@pytest.fixture
def node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the jsforce recipe is not run")
    if not (NODE_MODULES / "jsforce" / "package.json").exists():
        pytest.skip("jsforce is not installed (cd tests/consumers && npm ci)")
    return node


def through_a_revoked_session(program: LineProgram, org: SalesforceEmulator) -> None:
    """Query, revoke the session, query again: jsforce's refreshFn -> the endpoint -> one login."""
    try:
        first = program.ask(QUERY)
        assert first["totalSize"] == 1, first
        assert first["records"][0]["Username"] == USERNAME
        (token,) = org.sessions
        assert org.token_request_count == 1

        status, _ = org.revoke(token)  # the session ends, as an admin or a logout ends it
        assert status == 200
        second = program.ask(QUERY)
        assert second["records"][0]["Username"] == USERNAME, second
        assert org.token_request_count == 2  # refreshFn -> the endpoint -> one login
        (live,) = [t for t, session in org.sessions.items() if not session.revoked]
        assert live != token
        assert program.ask(QUERY) == second  # the new session holds
        assert org.token_request_count == 2
    except BaseException:
        program.kill()
        raise
    assert program.close() == 0
    queries = sum(n for path, n in org.request_counts.items() if path.endswith("/query"))
    assert queries == 4  # the query, the refused one, it again, and the last


def node_environment(base: dict[str, str], ca_bundle: str) -> dict[str, str]:
    return {
        **base,
        "NODE_PATH": str(NODE_MODULES),
        "NODE_EXTRA_CA_CERTS": ca_bundle,  # the emulator's TLS, as any private CA
    }


def test_jsforce_with_a_running_serve(
    node: str, org: SalesforceEmulator, env: dict[str, str], key: str, ca_bundle: str
) -> None:
    with ServeProcess(serve_args(org, key), env) as server:
        wait_ready(server.url)
        program_env = node_environment({"PATH": env["PATH"], "HOME": env["HOME"]}, ca_bundle)
        program_env["SF_CREDPROC_SERVER_URL"] = server.url
        program_env["SF_CREDPROC_SERVER_TOKEN"] = server.token
        program = LineProgram([node, str(PROGRAM)], program_env)
        through_a_revoked_session(program, org)
        assert program.stderr == ["session refreshed through sf-credproc\n"], program.stderr
        # The endpoint was asked twice: the first token, then once by refreshFn.
        asked = [line for line in server.stderr_lines() if "GET /credential 200" in line]
        assert len(asked) == 2, server.stderr_lines()


def test_jsforce_under_exec_server(
    node: str, org: SalesforceEmulator, env: dict[str, str], key: str, ca_bundle: str
) -> None:
    """The README's command line: ``sf-credproc exec --server [get options] -- node ...``."""
    command = [
        str(EXE),
        "exec",
        "--server",
        "-v",
        *get_args(org, key)[1:],
        "--",
        node,
        str(PROGRAM),
    ]
    program = LineProgram(command, node_environment(env, ca_bundle))
    through_a_revoked_session(program, org)
    stderr = "".join(program.stderr)
    assert stderr.count("session refreshed through sf-credproc\n") == 1, stderr
    assert stderr.count("GET /credential 200") == 2, stderr  # -v: the access lines
    assert_no_leaks(Run(0, "", stderr))
