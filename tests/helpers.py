"""Test helpers: key material, and running ``sf-credproc``: in this process (``run_cli``, the
default) or as the installed console script (``run_process``)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO

from clocks import SkippingClock
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sf_credproc.cli.context import ReplaceProcess
from sf_credproc.clock import Clock
from sf_credproc.emulator import SalesforceEmulator

EXE = Path(sys.executable).with_name("sf-credproc")
CLIENT_ID = "3MVG9test.consumer.key.for.sf-credproc"
USERNAME = "integration@acme.example"
REGION = "us-east-1"


#: Values that must never appear in any output: key material lines and passphrases. Filled by
#: ``pem_private``; every ``run_cli`` and ``run_process`` checks its output against them and against the
#: tokens and assertions of every emulator in ``EMULATORS``.
SECRETS: set[str] = set()
EMULATORS: list[SalesforceEmulator] = []


def throwaway_key(size: int = 2048) -> rsa.RSAPrivateKey:
    """A new RSA key, not the app's: a rotated, mismatched or pending key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def pem_private(key: rsa.RSAPrivateKey, passphrase: bytes | None = None) -> bytes:
    if passphrase and len(passphrase) >= 8:
        SECRETS.add(passphrase.decode())
    unencrypted = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    SECRETS.update(line for line in unencrypted.decode().splitlines()[1:-1] if len(line) >= 40)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def pem_public(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class Run:
    """The outcome of one ``sf-credproc`` process."""

    code: int
    stdout: str
    stderr: str

    def credential(self) -> dict[str, Any]:
        assert self.code == 0, f"exit {self.code}: {self.stderr}"
        document: dict[str, Any] = json.loads(self.stdout)
        return document

    def assert_failed(self, code: int, *needles: str) -> None:
        """Exit ``code``, empty stdout, one stderr line containing every needle, no traceback."""
        assert self.code == code, f"exit {self.code} (wanted {code}): {self.stderr}"
        assert self.stdout == "", self.stdout
        lines = self.stderr.splitlines()
        assert len(lines) == 1, self.stderr
        assert lines[0].startswith("sf-credproc: "), self.stderr
        assert "Traceback" not in self.stderr
        for needle in needles:
            assert needle in self.stderr, f"{needle!r} not in {self.stderr!r}"


#: Runs argv[1:] with SIGINT back at its default. A process started with SIGINT ignored (pytest run
#: from a background job, nohup, some CI runners) passes SIG_IGN on through fork and exec, and
#: Python then installs no KeyboardInterrupt handler: a test that interrupts the command must not
#: depend on how the test runner itself was started. (subprocess's restore_signals covers only
#: SIGPIPE, SIGXFZ and SIGXFSZ.)
DEFAULT_SIGINT = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])",
]


def with_default_sigint(command: Sequence[str]) -> list[str]:
    """``command`` (its first word a path) started with SIGINT at its default disposition."""
    return [*DEFAULT_SIGINT, *command]


def run_process(
    args: Sequence[str], env: Mapping[str, str], *, timeout: float = 60, module: bool = False
) -> Run:
    """Run the installed console script (or ``python -m sf_credproc``) as a process with exactly
    ``env``: for what only a process shows (exit codes, streams, the fast path, signals, umask)."""
    command = [sys.executable, "-m", "sf_credproc"] if module else [str(EXE)]
    done = subprocess.run(
        [*command, *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    run = Run(done.returncode, done.stdout, done.stderr)
    assert_no_leaks(run)
    return run


@contextlib.contextmanager
def process_environment(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` is exactly ``env`` for the block, as a child process would see it: boto3 and
    requests read their settings (endpoint, credentials, CA bundle) from the process environment."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def exec_as_child(out: TextIO, err: TextIO, timeout: float) -> ReplaceProcess:
    """``exec``'s process replacement for an in-process run: the command runs as a child with the
    environment ``exec`` gave it, its output goes to the captured streams, and ``main`` ends with
    its exit status (``SystemExit``, which ``main`` returns as the exit code)."""

    def replace(program: str, argv: list[str], environment: dict[str, str]) -> NoReturn:
        done = subprocess.run(
            argv,
            executable=program,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        out.write(done.stdout)
        err.write(done.stderr)
        raise SystemExit(done.returncode)

    return replace


def run_cli(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    timeout: float = 60,
    clock: Clock | None = None,
    replace_process: ReplaceProcess | None = None,
) -> Run:
    """Run the command in this process (``cli.main.main``) with ``env`` as its whole environment.

    ``clock`` defaults to a fresh ``SkippingClock``: retry backoffs cost no real time. A test that
    moves time (cache expiry) passes its own. sys.stdout and sys.stderr point at the captured
    streams too, as a process's would: argparse prints ``--help`` there. ``exec`` runs its command
    as a child (``exec_as_child``) unless the test passes its own ``replace_process``; ``timeout``
    bounds that child, the command's own deadline bounds the rest.
    """
    from sf_credproc.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with (
        process_environment(env),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = main(
            list(args),
            environ=dict(env),
            stdout=out,
            stderr=err,
            clock=clock or SkippingClock(),
            replace_process=replace_process or exec_as_child(out, err, timeout),
        )
    run = Run(int(code), out.getvalue(), err.getvalue())
    assert_no_leaks(run)
    return run


def under_load(seconds: float) -> float:
    """An allowance of ``seconds`` for work outside a deadline (a process's start, the unwinding
    after it), times the processes ready to run per core (the one-minute load average), at least
    once: as strict as written on an idle machine, and not a measure of a busy one."""
    per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    return seconds * max(1.0, per_core)


def run_timed(args: Sequence[str], env: Mapping[str, str]) -> tuple[Run, float]:
    """``run_cli``, and how long the command took as it saw it: real time plus the waits its
    clock skipped, never less than the real time (so a bound on it is at least as strict)."""
    clock = SkippingClock()
    started = clock.monotonic()
    run = run_cli(args, env, clock=clock)
    return run, clock.monotonic() - started


def assert_no_leaks(run: Run) -> None:
    """No key material, passphrase or assertion anywhere; tokens on stdout only (the credential)."""
    tokens: list[str] = []
    assertions: list[str] = []
    for emulator in EMULATORS:
        with emulator.lock:
            tokens.extend(emulator.sessions)
            assertions.extend(r.assertion for r in emulator.token_requests if r.assertion)
    never = [*SECRETS, *assertions, *(a.rsplit(".", 1)[-1] for a in assertions)]
    for secret in never:
        assert secret not in run.stdout, "a secret leaked to stdout"
        assert secret not in run.stderr, "a secret leaked to stderr"
    for token in tokens:
        assert token.split("!", 1)[-1] not in run.stderr, "a token leaked to stderr"


def base_env(home: Path) -> dict[str, str]:
    """A clean environment: no user settings, no AWS metadata lookups, nothing inherited."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "LANG": "C.UTF-8",
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        # Never let botocore look for instance credentials outside this machine.
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def get_args(emulator: SalesforceEmulator, key: str, *extra: str) -> list[str]:
    """``get`` arguments for the test org with key source ``key``."""
    return [
        "get",
        "--client-id", CLIENT_ID,
        "--username", USERNAME,
        "--login-url", emulator.url,
        "--key", key,
        *extra,
    ]  # fmt: skip


def credential_document(
    token: str, username: str, issued_at: int, expiration: int
) -> dict[str, Any]:
    """A whole credential of the output contract (version 1), as a cache entry must hold it."""
    from sf_credproc.credential import format_rfc3339

    return {
        "Version": 1,
        "AccessToken": token,
        "TokenType": "Bearer",
        "InstanceUrl": "https://acme.my.salesforce.com",
        "Id": "https://login.salesforce.com/id/00Dxx0000000001AAA/005xx0000000001AAA",
        "OrgId": "00Dxx0000000001AAA",
        "Username": username,
        "Scope": "api",
        "IssuedAt": format_rfc3339(issued_at),
        "Expiration": format_rfc3339(expiration),
    }
