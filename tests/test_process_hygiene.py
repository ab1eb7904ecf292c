"""Process hygiene: stdout that is closed or whose reader has gone, Ctrl-C on the fast path, the
environment ``exec`` hands on, values that must never be echoed, and lines that must stay lines."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import (
    EXE,
    SECRETS,
    USERNAME,
    Run,
    assert_no_leaks,
    base_env,
    get_args,
    pem_private,
    run_cli,
    run_process,
    throwaway_key,
    with_default_sigint,
)

from sf_credproc.cache.disk import MAX_FILE_BYTES
from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.oauth.exchange import MAX_RESPONSE_BYTES

#: Larger than a pipe's buffer (64 KiB on Linux) and than the cache's old 64 KiB read limit.
BIG_TOKEN_SUFFIX = "T" * (64 * 1024)


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """The installed command with pipes for stdout and stderr, not waited for; SIGINT at its
    default whatever the test runner inherited, so that Ctrl-C can be sent to it."""
    return subprocess.Popen(
        with_default_sigint([str(EXE), *args]),
        env=env,
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm (fast path)"])
def test_broken_pipe_is_one_line_and_exit_5_and_the_token_is_cached(
    warm: bool, org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    args = get_args(org, f"file:{key_file}")
    if warm:
        run_cli(args, env).credential()  # the entry and the fast path's index
    process = spawn(args, env)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader goes away, as `sf-credproc get | head -c0` does
    stderr = process.stderr.read()
    code = process.wait(timeout=60)
    run = Run(code, "", stderr)
    assert_no_leaks(run)
    run.assert_failed(5, "broken pipe", "run the command again")
    assert "Exception ignored" not in stderr
    # The token was cached before the write failed: the rerun logs in zero more times.
    assert run_cli(args, env).credential()["AccessToken"]
    assert org.token_request_count == 1


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm (fast path)"])
def test_closed_stdout_is_one_line_and_exit_5_and_the_token_is_cached(
    warm: bool, org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    args = get_args(org, f"file:{key_file}")
    if warm:
        run_cli(args, env).credential()
    done = subprocess.run(
        ["sh", "-c", 'exec "$0" "$@" >&-', str(EXE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    run = Run(done.returncode, done.stdout, done.stderr)
    assert_no_leaks(run)
    run.assert_failed(5, "stdout", "it is closed", "The token is cached")
    assert run_cli(args, env).credential()["AccessToken"]
    assert org.token_request_count == 1


def test_a_token_larger_than_the_old_read_limit_is_cached_and_served(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    org.token_suffix = BIG_TOKEN_SUFFIX
    args = get_args(org, f"file:{key_file}")
    first = run_cli(args, env).credential()
    assert first["AccessToken"].endswith(BIG_TOKEN_SUFFIX)
    assert run_process(args, env).credential() == first  # the fast path
    assert run_cli([*args, "--timeout", "20"], env).credential() == first  # the full reader
    for format_name in ("env", "header", "token"):  # indexes that hold the token more than once
        for _ in range(2):
            assert BIG_TOKEN_SUFFIX in run_cli([*args, "--format", format_name], env).stdout
    assert org.token_request_count == 1
    # Any answer the token endpoint accepts fits, even three times over in an index of --format env
    # (SF_ACCESS_TOKEN, SF_TARGET_ORG, SFDX_ACCESS_TOKEN).
    assert 3 * MAX_RESPONSE_BYTES + 64 * 1024 <= MAX_FILE_BYTES


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_ctrl_c_during_the_fast_path_is_one_line_and_exit_130(
    log_format: str, org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    """The fast path blocks writing a credential larger than the pipe's buffer to a reader that
    does not read: Ctrl-C arrives there, before the full command (and its handlers) is loaded."""
    org.token_suffix = BIG_TOKEN_SUFFIX
    env["SF_CREDPROC_LOG_FORMAT"] = log_format
    args = get_args(org, f"file:{key_file}")
    printed = run_cli(args, env).stdout
    process = spawn(args, env)
    assert process.stdout is not None and process.stderr is not None
    deadline = time.monotonic() + 20
    wchan = Path(f"/proc/{process.pid}/wchan")
    while "pipe_write" not in wchan.read_text():
        assert time.monotonic() < deadline, "the process never blocked writing its output"
        time.sleep(0.01)
    # Proof that this is the fast path: the full command loads _json (it renders the credential).
    assert "/_json." not in Path(f"/proc/{process.pid}/maps").read_text()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    (line,) = stderr.splitlines()
    if log_format == "json":
        assert json.loads(line)["message"] == "interrupted"
    else:
        assert line == "sf-credproc: interrupted"
    # At most what the pipe took before the signal (a write in progress is not undone).
    assert printed.startswith(stdout)
    assert org.token_request_count == 1


def test_exec_hands_on_neither_the_passphrase_nor_the_env_key(
    org: SalesforceEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey
) -> None:
    passphrase = "exec-child-must-not-see-this"
    env["SF_TEST_KEY_PEM"] = pem_private(app_key, passphrase.encode()).decode()
    env["SF_CREDPROC_KEY_PASSPHRASE"] = passphrase
    env["UNRELATED_SETTING"] = "kept"
    args = ["exec", *get_args(org, "env:SF_TEST_KEY_PEM")[1:], "--", "env"]
    run = run_cli(args, env)  # fails on a leak: the passphrase and the key's lines are SECRETS
    assert run.code == 0, run.stderr
    names = {line.partition("=")[0] for line in run.stdout.splitlines() if "=" in line}
    assert "SF_CREDPROC_KEY_PASSPHRASE" not in names
    assert "SF_TEST_KEY_PEM" not in names
    assert {"SF_ACCESS_TOKEN", "SFDX_ACCESS_TOKEN", "UNRELATED_SETTING", "PATH"} <= names


def _pasted_values() -> list[tuple[str, str]]:
    pem = pem_private(throwaway_key()).decode()
    lines = pem.splitlines()
    blob = "".join(lines[1:4])
    SECRETS.update([lines[1], blob[:120], "correct-horse-battery-staple"])
    return [
        ("a PEM line", lines[1]),
        ("a base64 blob", blob[:120]),
        ("a -----BEGIN string", "-----BEGIN PRIVATE KEY-----"),
        ("a whole PEM", pem),
        ("a passphrase", "correct-horse-battery-staple"),
        ("a PEM line after a scheme", f"file:{lines[1]}"),
        ("a base64 blob after a scheme", f"env:{blob[:100]}"),
    ]


@pytest.mark.parametrize(("what", "value"), _pasted_values(), ids=[r[0] for r in _pasted_values()])
def test_key_material_pasted_into_key_is_never_echoed(
    what: str, value: str, tmp_path: Path
) -> None:
    for args, env in (
        (["get", "--client-id", "c", "--username", "u", "--key", value], base_env(tmp_path)),
        (
            ["get", "--client-id", "c", "--username", "u"],
            {**base_env(tmp_path), "SF_CREDPROC_KEY": value},
        ),
    ):
        run = run_cli(args, env)
        assert run.code in (2, 3), run.stderr
        assert len(run.stderr.splitlines()) == 1
        assert value.strip() not in run.stderr
        for line in value.splitlines():
            assert line not in run.stderr or len(line) < 16


FORGED = "sf-credproc: forged line"


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "-v"])
@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("setting", ["--username", "--audience"])
def test_a_newline_in_a_setting_cannot_split_or_forge_a_line(
    setting: str,
    log_format: str,
    verbose: bool,
    org: SalesforceEmulator,
    env: dict[str, str],
    key_file: Path,
) -> None:
    value = (USERNAME if setting == "--username" else org.url) + "\n" + FORGED + "\r\x1b[2K"
    args = [*get_args(org, f"file:{key_file}"), setting, value, "--log-format", log_format]
    run = run_cli([*args, "-v"] if verbose else args, env)
    assert run.code in (2, 4), run.stderr
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert lines and len(lines) == run.stderr.count("\n")
    for line in lines:
        assert "\r" not in line and "\x1b" not in line
        if log_format == "json":
            assert isinstance(json.loads(line), dict)
        else:
            assert line.startswith("sf-credproc: ") and not line.startswith(FORGED)
    if not verbose:
        assert len(lines) == 1
