"""The command line's own surface: --version, --help, the demo and the emulator command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import trustme
from clocks import BrokenClock
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import EXE, Run, assert_no_leaks, base_env, run_cli, run_process, with_default_sigint

from sf_credproc import __version__
from sf_credproc.config.options import GET_OPTIONS
from sf_credproc.credential import load_schema


def test_version(tmp_path: Path) -> None:
    for module in (False, True):
        run = run_process(["--version"], base_env(tmp_path), module=module)
        assert (run.code, run.stdout, run.stderr) == (0, f"sf-credproc {__version__}\n", "")


def test_get_help_lists_every_option_its_env_var_and_the_exit_codes(tmp_path: Path) -> None:
    run = run_cli(["get", "--help"], base_env(tmp_path))
    assert run.code == 0
    text = " ".join(run.stdout.split())
    for option in GET_OPTIONS:
        assert option.flag and option.flag in text
        assert option.env and option.env in text
    for flag in ("--profile", "SF_CREDPROC_PROFILE", "--verbose"):
        assert flag in text
    for code in range(6):
        assert f" {code} " in text
    assert "transient" in text and "Salesforce refused" in text


def test_demo_prints_a_credential(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "SF_CREDPROC_AUDIENCE": "https://wrong.example"}  # set aside
    run = run_cli(["demo"], env)
    credential = run.credential()
    jsonschema.validate(credential, load_schema())
    assert credential["InstanceUrl"].startswith("http://127.0.0.1:")
    assert "emulated Salesforce" in run.stderr


def read_instructions(server: subprocess.Popen[str]) -> dict[str, str]:
    """The emulator's six ``name: value`` lines; a server that prints fewer is killed at 30 s."""
    import threading

    assert server.stdout is not None
    watchdog = threading.Timer(30, server.kill)
    watchdog.start()
    try:
        return dict(server.stdout.readline().rstrip("\n").split(": ", 1) for _ in range(6))
    finally:
        watchdog.cancel()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_emulator_command_prints_a_get_that_runs_as_printed(
    stop: signal.Signals, tmp_path: Path
) -> None:
    """``sf-credproc emulator`` prints a command that runs pasted into a shell, says how to stop,
    and deletes its throwaway key however it is stopped."""
    env = base_env(tmp_path)
    server = subprocess.Popen(
        with_default_sigint([str(EXE), "emulator"]),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = read_instructions(server)
        key_path = Path(lines["key"].removeprefix("file:"))
        assert key_path.stat().st_mode & 0o077 == 0  # the throwaway key is private
        assert "Ctrl-C" in lines["stop"] and "deleted" in lines["stop"]
        pasted = subprocess.run(
            ["sh", "-c", lines["try"]],
            env={**env, "PATH": f"{EXE.parent}:{env['PATH']}"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        run = Run(pasted.returncode, pasted.stdout, pasted.stderr)
        assert_no_leaks(run)
        assert run.credential()["Username"] == lines["username"]
    finally:
        server.send_signal(stop)
        server.wait(timeout=10)
    assert not key_path.exists() and not key_path.parent.exists()


def test_emulator_with_cert_and_tls_prints_a_get_that_runs_with_the_users_key(
    tmp_path: Path, app_key: rsa.RSAPrivateKey, key_file: Path, ca: trustme.CA
) -> None:
    """With --cert the key is the user's own (SF_CREDPROC_KEY); with --tls-cert the command
    trusts that certificate. Nothing reads 'your key'."""
    import time

    from sf_credproc.keys.certificates import make_certificate, parse_subject

    certificate = tmp_path / "app-cert.pem"
    issued = make_certificate(app_key, parse_subject("CN=test"), days=1, now=time.time())
    certificate.write_bytes(issued.pem)
    server_cert = ca.issue_cert("127.0.0.1")
    tls_cert, tls_key = tmp_path / "tls-cert.pem", tmp_path / "tls-key.pem"
    # The whole chain, the CA last: the bundle the printed command trusts ends in a root.
    tls_cert.write_bytes(
        b"".join(blob.bytes() for blob in server_cert.cert_chain_pems) + ca.cert_pem.bytes()
    )
    server_cert.private_key_pem.write_to_path(str(tls_key))
    env = {**base_env(tmp_path), "SF_CREDPROC_KEY": f"file:{key_file}"}
    argv = ["emulator", "--cert", str(certificate), "--tls-cert", str(tls_cert)]
    server = subprocess.Popen(
        [str(EXE), *argv, "--tls-key", str(tls_key)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = read_instructions(server)
        assert "SF_CREDPROC_KEY" in lines["key"] and "your key" not in lines["try"]
        pasted = subprocess.run(
            ["sh", "-c", lines["try"]],
            env={**env, "PATH": f"{EXE.parent}:{env['PATH']}"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert pasted.returncode == 0, pasted.stderr
        assert json.loads(pasted.stdout)["InstanceUrl"].startswith("https://127.0.0.1:")
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_emulator_command_refuses_half_a_tls_setting(tmp_path: Path) -> None:
    run = run_cli(["emulator", "--tls-cert", "cert.pem"], base_env(tmp_path))
    run.assert_failed(2, "--tls-cert and --tls-key go together")


def test_version_imports_no_heavy_library(tmp_path: Path) -> None:
    """Heavy libraries load only where they are used (a guard for the lazy-import design)."""
    env = base_env(tmp_path)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sf_credproc", "--version"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "sf_credproc.cli.main" in imported  # the measurement saw our own modules load
    for heavy in ("boto3", "botocore", "requests", "jwt", "cryptography"):
        assert heavy not in imported, f"{heavy} imported by --version"


def test_internal_error_is_one_line_and_traceback_only_with_verbose(tmp_path: Path) -> None:
    import io

    from sf_credproc.cli.main import main

    argv = ["get", "--client-id", "c", "--username", "u", "--key", "env:K"]
    for verbose in (False, True):
        out, err = io.StringIO(), io.StringIO()
        code = main(
            argv + (["-v"] if verbose else []),
            environ=base_env(tmp_path),
            stdout=out,
            stderr=err,
            clock=BrokenClock(),
        )
        assert code == 1
        assert out.getvalue() == ""
        last = err.getvalue().splitlines()[-1]
        assert last.startswith("sf-credproc: internal error (RuntimeError); this is a bug")
        assert ("Traceback" in err.getvalue()) is verbose
        if not verbose:
            assert len(err.getvalue().splitlines()) == 1
