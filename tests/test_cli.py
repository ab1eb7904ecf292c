"""The command line's own surface: --version, --help, the demo and the emulator command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jsonschema
from helpers import EXE, base_env, run_cli

from sf_credproc import __version__
from sf_credproc.credential import load_schema
from sf_credproc.settings import GET_OPTIONS


def test_version(tmp_path: Path) -> None:
    for module in (False, True):
        run = run_cli(["--version"], base_env(tmp_path), module=module)
        assert (run.code, run.stdout, run.stderr) == (0, f"sf-credproc {__version__}\n", "")


def test_get_help_lists_every_option_its_env_var_and_the_exit_codes(tmp_path: Path) -> None:
    run = run_cli(["get", "--help"], base_env(tmp_path))
    assert run.code == 0
    text = " ".join(run.stdout.split())
    for option in GET_OPTIONS:
        assert option.flag in text
        assert option.env in text
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


def test_emulator_command_serves_get(tmp_path: Path) -> None:
    """``sf-credproc emulator`` prints how to call it; ``get`` with that key then succeeds."""
    env = base_env(tmp_path)
    server = subprocess.Popen(
        [str(EXE), "emulator"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = dict(server.stdout.readline().rstrip("\n").split(": ", 1) for _ in range(4))
        args = ["get", "--login-url", lines["url"], "--client-id", lines["client_id"]]
        run = run_cli([*args, "--username", lines["username"], "--key", lines["key"]], env)
        credential = run.credential()
        assert credential["Username"] == lines["username"]
        key_path = Path(lines["key"].removeprefix("file:"))
        assert key_path.stat().st_mode & 0o077 == 0  # the throwaway key is private
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
    assert "sf_credproc.cli" in imported  # the measurement saw our own modules load
    for heavy in ("boto3", "botocore", "requests", "jwt", "cryptography"):
        assert heavy not in imported, f"{heavy} imported by --version"


class BrokenClock:
    """A clock that fails: the only honest way to reach the 'this is a bug' path."""

    def time(self) -> float:
        raise RuntimeError("clock exploded")

    def monotonic(self) -> float:
        raise RuntimeError("clock exploded")

    def sleep(self, seconds: float) -> None:
        raise RuntimeError("clock exploded")


def test_internal_error_is_one_line_and_traceback_only_with_verbose(tmp_path: Path) -> None:
    import io

    from sf_credproc.cli import main

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
