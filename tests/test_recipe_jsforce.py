"""The jsforce recipe (examples/jsforce): the real jsforce from npm, its token from ``serve``,
through a revoked session: 401 ``INVALID_SESSION_ID`` -> ``refreshFn`` -> the endpoint's
compare-and-refresh (``?rejected_sha256=``) -> exactly one login -> the query repeated and answered.
The README's two blocks run as written under ``exec --server``: the command line (in a copy of
examples/jsforce, its ``queries.soql`` a FIFO the test writes) and the ``connect()`` snippet."""

from __future__ import annotations

import errno
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest
from helpers import EXE, USERNAME, Run, assert_no_leaks, get_args
from readme_recipes import recipe
from recipe_fixtures import with_prod_profile
from serve_fixtures import SOON_SECONDS, ServeProcess, serve_args, wait_ready

from sf_credproc.emulator import SalesforceEmulator

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "tests" / "consumers" / "node_modules"
PROGRAM = ROOT / "examples" / "jsforce" / "soql-lines.js"
QUERY = "SELECT Id, Username FROM User"


class LineProgram:
    """A program that answers each line on its stdin with one line on stdout."""

    def __init__(
        self,
        command: list[str],
        env: dict[str, str],
        *,
        cwd: Path | None = None,
        fifo: Path | None = None,
    ) -> None:
        """``fifo``: the program reads its lines from that named pipe (a shell's ``< FILE``)."""
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE if fifo is None else subprocess.DEVNULL,
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
        self.input = self.process.stdin if fifo is None else self._open_for_writing(fifo)

    def _open_for_writing(self, fifo: Path) -> IO[str]:
        """The FIFO's writing end, once the program has opened it for reading (a FIFO opened for
        writing without blocking fails with ENXIO until then)."""
        limit = time.monotonic() + SOON_SECONDS
        while True:
            try:
                descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as error:
                if error.errno != errno.ENXIO or self.process.poll() is not None:
                    raise AssertionError(
                        f"the program did not open {fifo}: {self.stderr}"
                    ) from error
                if time.monotonic() > limit:
                    raise AssertionError(f"{fifo} not opened within {SOON_SECONDS} s") from None
                time.sleep(0.02)
                continue
            os.set_blocking(descriptor, True)
            return os.fdopen(descriptor, "w")

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def ask(self, line: str) -> Any:
        assert self.input is not None
        self.input.write(line + "\n")
        self.input.flush()
        try:
            answer = self.lines.get(timeout=SOON_SECONDS)
        except queue.Empty:
            raise AssertionError(f"no answer; stderr: {''.join(self.stderr)!r}") from None
        assert answer is not None, f"the program exited; stderr: {''.join(self.stderr)!r}"
        return json.loads(answer)

    def close(self) -> int:
        assert self.input is not None
        self.input.close()
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
    node: str,
    org: SalesforceEmulator,
    env: dict[str, str],
    key_file: Path,
    ca_bundle: str,
    tmp_path: Path,
) -> None:
    """The README's command lines, in a copy of examples/jsforce whose dependencies are
    tests/consumers' (``NODE_PATH``: the same jsforce ``npm install`` would fetch)."""
    enter, command = recipe("jsforce-exec-server").lines()
    assert enter == "cd examples/jsforce && npm install"
    wanted = json.loads((PROGRAM.parent / "package.json").read_text())["dependencies"]
    installed = json.loads((NODE_MODULES / "jsforce" / "package.json").read_text())["version"]
    assert wanted == {"jsforce": f"^{installed}"}
    shutil.copytree(PROGRAM.parent, tmp_path / "examples" / "jsforce")
    os.mkfifo(tmp_path / "examples" / "jsforce" / "queries.soql")
    with_prod_profile(env, org, key_file)
    program = LineProgram(
        ["sh", "-c", f"cd examples/jsforce && {command}"],
        node_environment(env, ca_bundle),
        cwd=tmp_path,
        fifo=tmp_path / "examples" / "jsforce" / "queries.soql",
    )
    through_a_revoked_session(program, org)
    stderr = "".join(program.stderr)
    assert stderr.count("session refreshed through sf-credproc\n") == 1, stderr
    assert_no_leaks(Run(0, "", stderr))


#: Runs the README's snippet, top-level ``await`` and all, in an async function (CommonJS).
SNIPPET_RUNNER = """(async () => {
%s
process.stdout.write(JSON.stringify(records) + '\\n');
})().catch((error) => { process.stderr.write(`snippet: ${error.message}\\n`); process.exit(1); });
"""


def test_readme_snippet_under_exec_server(
    node: str,
    org: SalesforceEmulator,
    env: dict[str, str],
    key: str,
    ca_bundle: str,
    tmp_path: Path,
) -> None:
    snippet = recipe("jsforce-connect")
    assert snippet.language == "js"
    shutil.copy(PROGRAM.parent / "sf-credproc-connection.js", tmp_path)
    (tmp_path / "snippet.js").write_text(SNIPPET_RUNNER % snippet.text)
    command = [str(EXE), "exec", "--server", *get_args(org, key)[1:], "--", node, "snippet.js"]
    done = subprocess.run(
        command,
        env=node_environment(env, ca_bundle),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert_no_leaks(Run(done.returncode, "", done.stderr))
    assert done.returncode == 0, done.stderr
    (record,) = json.loads(done.stdout)
    assert record["Username"] == USERNAME and record["attributes"]["type"] == "User"
    assert org.token_request_count == 1
