"""What every test of the credential endpoint (``serve``, ``exec --server``) shares.

- ``ServeProcess``: ``sf-credproc serve`` as a real process (the console script), its one stdout
  line read within a bound, its stderr collected as it comes; a context manager that always kills
  and reaps, then checks the stderr for leaks and tracebacks.
- ``request`` / ``get_json``: one HTTP/1.1 request through ``http.client``, so that a test decides
  every header (``Host`` and ``Authorization`` included, or their absence), over TCP, TLS or a Unix
  socket. Every answer is checked against the contract's headers (``Cache-Control: no-store``, a
  true ``Content-Length``, no ``Access-Control-*``) unless a test asks for the raw answer.
- ``held_org``: the emulator whose token endpoint holds requests at a gate (``HoldingEmulator``),
  for the tests that need a login in progress (``/healthz`` before the first login, SIGTERM with
  requests in flight).
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import signal
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import (
    CLIENT_ID,
    EMULATORS,
    EXE,
    SECRETS,
    USERNAME,
    Run,
    assert_no_leaks,
    get_args,
    pem_public,
    with_default_sigint,
)
from serve_http import (
    CREDENTIAL_FIELDS,
    ERROR_FIELDS,
    SOON_SECONDS,
    AddressedHTTPSConnection,
    Answer,
    UnixHTTPConnection,
    assert_contract_headers,
    assert_error,
    assert_no_secret_in,
    connection_for,
    credential_of,
    default_host,
    get_json,
    raw_connection,
    read_answer,
    read_until_closed,
    refuses_connections,
    request,
    send_request,
    tls_context_trusting,
    wait_ready,
    wait_until,
)
from test_auth_refresh import HoldingEmulator

from sf_credproc.clock import Clock
from sf_credproc.config.serve_options import SERVER_TOKEN_ENV
from sf_credproc.config.settings import resolve_keywords
from sf_credproc.emulator import SalesforceEmulator

__all__ = [
    "CREDENTIAL_FIELDS",
    "ERROR_FIELDS",
    "SOON_SECONDS",
    "URL_LINE_SECONDS",
    "AddressedHTTPSConnection",
    "Answer",
    "InProcessEndpoint",
    "ServeProcess",
    "UnixHTTPConnection",
    "assert_contract_headers",
    "assert_error",
    "assert_no_secret_in",
    "assert_one_error_line",
    "connection_for",
    "credential_of",
    "default_host",
    "endpoint_in_process",
    "get_json",
    "held_org",
    "holding_emulator",
    "new_server_token",
    "raw_connection",
    "read_answer",
    "read_until_closed",
    "refuses_connections",
    "request",
    "send_request",
    "serve_args",
    "tls_context_trusting",
    "wait_ready",
    "wait_until",
    "write_private",
]

#: How long a server may take to print its address (a loaded 2-core machine starting Python).
URL_LINE_SECONDS = 60.0


def new_server_token() -> str:
    """A fresh server token, registered as a secret: no output of any test may show it."""
    token = secrets.token_urlsafe(32)
    SECRETS.add(token)
    return token


def serve_args(emulator: SalesforceEmulator, key: str, *extra: str) -> list[str]:
    """``serve`` with the get arguments of the test org and key source ``key``."""
    return ["serve", *get_args(emulator, key)[1:], *extra]


# --- the server as a process ---------------------------------------------------------------------


class ServeProcess:
    """``sf-credproc ARGS`` (``serve ...``) as a process, until the block ends.

    The server token is ``token`` (a fresh one by default) passed in ``SF_CREDPROC_SERVER_TOKEN``;
    ``token_in_env=False`` passes none (the server generates or reads one; a test then sets
    ``.token``). ``wait_for_url=False`` leaves reading the stdout line to the test (a server
    expected to fail at start: ``wait()`` then ``stdout``).
    """

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        *,
        token: str | None = None,
        token_in_env: bool = True,
        wait_for_url: bool = True,
    ) -> None:
        self.args = list(args)
        self.env = dict(env)
        self.token = ""
        if token_in_env:
            self.token = token or new_server_token()
            SECRETS.add(self.token)
            self.env[SERVER_TOKEN_ENV] = self.token
        self.url = ""
        self.scheme = ""
        self.host = ""
        self.port = 0
        self.socket_path: str | None = None
        self.stdout = ""
        self._wait_for_url = wait_for_url
        self._stdout_lines: queue.Queue[str | None] = queue.Queue()
        self._stderr_lines: list[str] = []
        self._stderr_changed = threading.Condition()
        self._threads: list[threading.Thread] = []
        self.process: subprocess.Popen[str] | None = None

    # -- starting ---------------------------------------------------------------------------------

    def start(self) -> ServeProcess:
        self.process = subprocess.Popen(
            with_default_sigint([str(EXE), *self.args]),
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(self.process.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self.process.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        if self._wait_for_url:
            self.read_url()
        return self

    def __enter__(self) -> ServeProcess:
        try:
            return self.start()
        except BaseException:
            self._kill_and_reap()
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        code = self._kill_and_reap()
        if kind is None:
            self.assert_clean(code)

    def read_url(self, timeout: float = URL_LINE_SECONDS) -> str:
        """The one line the server prints when it listens: its URL (or ``unix:PATH``)."""
        try:
            line = self._stdout_lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no URL line within {timeout:.0f} s; stderr: {self.stderr_text()!r}"
            ) from None
        if line is None:
            code = self.wait()
            raise AssertionError(f"exited {code} before printing a URL: {self.stderr_text()!r}")
        self.stdout += line
        assert line.endswith("\n"), line
        self.url = line.rstrip("\n")
        if self.url.startswith("unix:"):
            self.scheme, self.socket_path = "unix", self.url.removeprefix("unix:")
            assert os.path.isabs(self.socket_path), self.url
        else:
            parts = urllib.parse.urlsplit(self.url)
            assert parts.scheme in ("http", "https"), self.url
            assert parts.path == "/credential", self.url
            assert parts.hostname and parts.port, self.url
            self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        return self.url

    # -- the process's streams --------------------------------------------------------------------

    def _read_stdout(self, stream: Any) -> None:
        for line in stream:
            self._stdout_lines.put(line)
        self._stdout_lines.put(None)

    def _read_stderr(self, stream: Any) -> None:
        for line in stream:
            with self._stderr_changed:
                self._stderr_lines.append(line)
                self._stderr_changed.notify_all()

    def stderr_text(self) -> str:
        with self._stderr_changed:
            return "".join(self._stderr_lines)

    def stderr_lines(self) -> list[str]:
        with self._stderr_changed:
            return [line.rstrip("\n") for line in self._stderr_lines]

    def wait_for_stderr(
        self, condition: Callable[[list[str]], bool], what: str, *, timeout: float = SOON_SECONDS
    ) -> list[str]:
        """Wait until ``condition`` holds for the stderr lines so far; returns them."""
        deadline = time.monotonic() + timeout
        with self._stderr_changed:
            while True:
                lines = [line.rstrip("\n") for line in self._stderr_lines]
                if condition(lines):
                    return lines
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"not within {timeout:.0f} s: {what}; stderr: {lines!r}")
                self._stderr_changed.wait(min(left, 0.5))

    def rest_of_stdout(self) -> str:
        """What the process printed on stdout after the URL line (once it has exited)."""
        rest: list[str] = []
        while True:
            line = self._stdout_lines.get(timeout=SOON_SECONDS)
            if line is None:
                self._stdout_lines.put(None)
                return "".join(rest)
            rest.append(line)

    # -- signals and exit -------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait(self, timeout: float = SOON_SECONDS) -> int:
        """The exit status (``-N`` for a death by signal N); the streams read to their end."""
        assert self.process is not None
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running after {timeout:.0f} s; stderr: {self.stderr_text()!r}"
            ) from None
        for thread in self._threads:
            thread.join(timeout=SOON_SECONDS)
        return code

    def _kill_and_reap(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait(timeout=SOON_SECONDS)
        for thread in self._threads:
            thread.join(timeout=SOON_SECONDS)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code

    def assert_clean(self, code: int | None) -> None:
        """No secret and no traceback in anything the process wrote."""
        stderr = self.stderr_text()
        assert "Traceback" not in stderr, stderr
        assert_no_leaks(Run(code if code is not None else -1, self.stdout, stderr))


def assert_one_error_line(code: int, stderr: str, *needles: str) -> None:
    """A refused start: exit ``code`` and one stderr line, no traceback, naming every needle."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("sf-credproc: "), stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in stderr, f"{needle!r} not in {stderr!r}"


# --- an emulator whose logins wait at a gate -----------------------------------------------------


@pytest.fixture(scope="module")
def holding_emulator(ca: trustme.CA) -> Iterator[HoldingEmulator]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with HoldingEmulator(ssl_context=context) as emulator:
        EMULATORS.append(emulator)
        yield emulator
        EMULATORS.remove(emulator)


@pytest.fixture
def held_org(
    holding_emulator: HoldingEmulator, app_key: rsa.RSAPrivateKey
) -> Iterator[HoldingEmulator]:
    """The test org, whose token endpoint holds every request while ``gate`` is clear
    (``held_org.gate.clear()`` closes it; ``held_org.held`` is set when a login waits there)."""
    holding_emulator.reset()
    holding_emulator.register_app(CLIENT_ID, pem_public(app_key))
    holding_emulator.add_user(USERNAME, approve=[CLIENT_ID])
    yield holding_emulator
    holding_emulator.gate.set()  # never leave a handler thread waiting


def write_private(path: Path, data: bytes) -> Path:
    """``data`` in a new file readable by its owner only."""
    path.write_bytes(data)
    path.chmod(0o600)
    return path


# --- the endpoint in this process, on a test's clock ---------------------------------------------


@dataclass
class InProcessEndpoint:
    """An ``Endpoint`` serving from a thread of this process: ``url``, ``token`` (the server
    token), and the ``endpoint`` itself (``keeper``, ``refresher``)."""

    endpoint: Any
    url: str
    token: str


@contextlib.contextmanager
def endpoint_in_process(
    emulator: SalesforceEmulator,
    key: str,
    env: Mapping[str, str],
    *,
    clock: Clock,
    poll_seconds: float = 0.05,
    **settings: Any,
) -> Iterator[InProcessEndpoint]:
    """The endpoint of the test org's identity on ``clock`` (a ``SkippingClock`` moves it into
    the refresh windows), its background refresher looking every ``poll_seconds``; no access log.
    ``settings``: more keyword settings (``min_ttl=...``)."""
    from sf_credproc.serve.runner import Endpoint

    resolved = resolve_keywords(
        client_id=CLIENT_ID,
        username=USERNAME,
        login_url=emulator.url,
        key=key,
        environ=env,
        **settings,
    )
    token = new_server_token()
    endpoint = Endpoint(
        resolved,
        clock=clock,
        environ=env,
        server_token=token,
        poll_seconds=poll_seconds,
        access_log=None,
    )
    url = endpoint.start()
    try:
        yield InProcessEndpoint(endpoint, url, token)
    finally:
        endpoint.stop()
