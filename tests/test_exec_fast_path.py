"""``exec`` on the cache-hit fast path behaves exactly like the full ``exec``.

Every run is a real process of the installed command. Which path answered is read from
``-X importtime`` (an interpreter flag: the environment the command gets is the same): the fast
path never loads ``sf_credproc.cli.main``. The full command's answer on the same cache hit is
forced by removing the index, the only thing the fast path reads besides the entry.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from faulty_emulator import FaultyEmulator
from helpers import CLIENT_ID, EXE, SECRETS, Run, assert_no_leaks, get_args, pem_private, pem_public

from sf_credproc.config.options import SECRET_ENVIRONMENT
from sf_credproc.exec_recipe import child_environment, encode_recipe

PASSPHRASE = b"exec-fast-path-passphrase"
VAULT_TOKEN = "hvs.exec-fast-path-test-vault-token"
SECRETS.add(VAULT_TOKEN)
#: An ``env:`` key source: its variable, the PEM, must never reach the command either.
KEY = "env:APP_KEY_PEM"
#: What the fast path must leave to the full command, whatever an index says.
FULL_ONLY = [
    ["--refresh"],
    ["--no-cache"],
    ["-v"],
    ["--verbose"],
    ["--format", "github"],
    ["--format=github"],
    ["--server"],
]


@pytest.fixture
def exec_env(env: dict[str, str], app_key: rsa.RSAPrivateKey) -> dict[str, str]:
    """``env`` with every secret ``exec`` removes, and variables ``exec`` replaces in place."""
    return {
        "SF_INSTANCE_URL": "https://stale.example",  # replaced where it stands, as dict.update does
        **env,
        "APP_KEY_PEM": pem_private(app_key, PASSPHRASE).decode(),
        "SF_CREDPROC_KEY_PASSPHRASE": PASSPHRASE.decode(),
        "VAULT_TOKEN": VAULT_TOKEN,
        "UNRELATED": "kept as it is",
    }


def exec_args(org: FaultyEmulator, *extra: str) -> list[str]:
    return ["exec", *get_args(org, KEY)[1:], *extra]


def traced(args: list[str], env: dict[str, str]) -> tuple[Run, bool]:
    """A real process of ``args``, and whether the full command answered (not the fast path)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(EXE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    lines = done.stderr.splitlines()
    imported = {line.split("|")[-1].strip() for line in lines if line.startswith("import time:")}
    assert "sf_credproc.fast_path" in imported, done.stderr[-2000:]
    stderr = "".join(f"{line}\n" for line in lines if not line.startswith("import time:"))
    run = Run(done.returncode, done.stdout, stderr)
    assert_no_leaks(run)
    return run, "sf_credproc.cli.main" in imported


def cache_dir(env: dict[str, str]) -> Path:
    return Path(env["XDG_CACHE_HOME"]) / "sf-credproc"


def forget_indexes(env: dict[str, str]) -> None:
    for index in cache_dir(env).glob("*.idx"):
        index.unlink()


def full_and_fast(args: list[str], env: dict[str, str]) -> tuple[Run, Run]:
    """The full command on a cache hit (no index), then the fast path on the index it recorded."""
    forget_indexes(env)
    full, full_ran = traced(args, env)
    assert full_ran
    fast, full_ran = traced(args, env)
    assert not full_ran, fast.stderr
    return full, fast


def variables(env_dump: str) -> dict[str, str]:
    """The output of ``env -0`` as a mapping."""
    assert env_dump.endswith("\0")
    return dict(item.split("=", 1) for item in env_dump[:-1].split("\0"))


@pytest.mark.parametrize("token_format", ["opaque", "jwt"])
@pytest.mark.parametrize("extra", [[], ["--cumulusci-org", "dev"]], ids=["plain", "cumulusci"])
def test_the_fast_path_gives_the_command_the_full_commands_environment_byte_for_byte(
    org: FaultyEmulator,
    exec_env: dict[str, str],
    app_key: rsa.RSAPrivateKey,
    extra: list[str],
    token_format: str,
) -> None:
    if token_format == "jwt":  # SF_TARGET_ORG is left out for a JWT-based access token
        org.register_app(CLIENT_ID, pem_public(app_key), token_format="jwt")
    args = exec_args(org, *extra, "--", "env", "-0")
    first, full_ran = traced(args, exec_env)  # a miss: logs in, then records the index
    assert first.code == 0 and full_ran, first.stderr
    full, fast = full_and_fast(args, exec_env)
    assert fast.stdout == full.stdout == first.stdout
    assert fast.stderr == full.stderr == ""
    assert org.token_request_count == 1
    child = variables(fast.stdout)
    token = child["SF_ACCESS_TOKEN"]
    assert token in org.sessions
    for name in (*SECRET_ENVIRONMENT, "APP_KEY_PEM"):
        assert name not in child
    assert child["UNRELATED"] == "kept as it is"
    assert next(iter(child)) == "SF_INSTANCE_URL" and child["SF_INSTANCE_URL"] == org.url
    assert child["SFDX_ACCESS_TOKEN"] == token
    assert ("SF_TARGET_ORG" in child) is (token_format == "opaque")
    if extra:
        assert json.loads(child["CUMULUSCI_ORG_DEV"])["access_token"] == token
        assert child["CUMULUSCI_DISABLE_REFRESH"] == "1"
    else:
        assert not any(name.startswith("CUMULUSCI_") for name in child)


def test_any_command_after_the_options_reuses_the_index_with_its_own_exit_status(
    org: FaultyEmulator, exec_env: dict[str, str]
) -> None:
    """The index is keyed by the options only: another command, other arguments, the same hit.
    Exit statuses are the command's own, a signal's included."""
    assert traced(exec_args(org, "--", "true"), exec_env)[0].code == 0  # records the index
    for command, status in (
        (["sh", "-c", "exit 7"], 7),
        (["/bin/sh", "-c", 'kill -TERM "$$"'], -15),
        (["env", "-0"], 0),
    ):
        fast, full_ran = traced(exec_args(org, "--", *command), exec_env)
        assert not full_ran and fast.code == status, fast.stderr
        full, fast_again = full_and_fast(exec_args(org, "--", *command), exec_env)
        assert (full.code, full.stdout, full.stderr) == (status, fast.stdout, fast.stderr)
        assert fast_again.code == status
    assert org.token_request_count == 1


def test_a_missing_command_fails_as_the_full_command_does_before_any_login(
    org: FaultyEmulator, exec_env: dict[str, str], tmp_path: Path
) -> None:
    assert traced(exec_args(org, "--", "true"), exec_env)[0].code == 0
    not_executable = tmp_path / "not-executable"
    not_executable.write_text("#!/bin/sh\n")
    for command in ("no-such-command-for-exec", str(not_executable), str(tmp_path)):
        answered, full_ran = traced(exec_args(org, "--", command, "arg"), exec_env)
        assert full_ran  # the fast path leaves it to the full command, which says so
        answered.assert_failed(2, f"exec: command {command!r} not found")
    as_json = {**exec_env, "SF_CREDPROC_LOG_FORMAT": "json"}
    answered, full_ran = traced(exec_args(org, "--", "no-such-command-for-exec"), as_json)
    assert full_ran and answered.code == 2
    assert json.loads(answered.stderr)["exit_code"] == 2
    assert org.token_request_count == 1


def test_a_changed_config_file_or_environment_takes_the_full_command(
    org: FaultyEmulator, exec_env: dict[str, str]
) -> None:
    config = Path(exec_env["XDG_CONFIG_HOME"]) / "sf-credproc" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("# no profile\n")
    args = exec_args(org, "--", "env", "-0")
    full, fast = full_and_fast(args, exec_env)
    assert fast.stdout == full.stdout
    config.write_text("# no profile, edited\n")
    edited, full_ran = traced(args, exec_env)
    assert full_ran and edited.stdout == full.stdout
    # A setting's variable is part of the key; any other variable is passed on as it is now.
    timeout, full_ran = traced(args, {**exec_env, "SF_CREDPROC_TIMEOUT": "29"})
    assert full_ran and variables(timeout.stdout)["SF_CREDPROC_TIMEOUT"] == "29"
    other, full_ran = traced(args, {**exec_env, "UNRELATED": "changed", "ADDED": "1"})
    assert not full_ran
    assert variables(other.stdout)["UNRELATED"] == "changed"
    assert variables(other.stdout)["ADDED"] == "1"
    assert org.token_request_count == 1


RECIPE = b"sf-credproc-exec/1\0"


def resealed(change: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """An index whose recipe ``change`` edits, its checksum made to match: only the recipe's own
    checks can refuse it."""

    def tamper(data: bytes) -> bytes:
        head, magic, rest = data.partition(RECIPE)
        body = change(rest.partition(b"\0")[2])
        return head + magic + b"%08x\0" % zlib.crc32(body) + body

    return tamper


def _next_offset(body: bytes) -> bytes:
    offset, _, rest = body.partition(b"\0")
    return b"%d\0" % (int(offset) + 1) + rest


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(resealed(_next_offset), id="token-offset"),
        pytest.param(
            resealed(lambda body: body.replace(b"\0SF_ACCESS_TOKEN\0", b"\0SF=A\0")), id="name"
        ),
        pytest.param(resealed(lambda body: body + b"\0extra"), id="appended"),
        pytest.param(resealed(lambda body: body[: body.rindex(b"\0")]), id="cut-field"),
        pytest.param(lambda data: data[:-3], id="cut"),
        pytest.param(lambda data: data.replace(b"://", b":/"), id="value"),
        pytest.param(lambda data: data.replace(RECIPE, b"sf-credproc-exec/9\0"), id="version"),
    ],
)
def test_a_tampered_index_takes_the_full_command(
    org: FaultyEmulator, exec_env: dict[str, str], tamper: Callable[[bytes], bytes]
) -> None:
    args = exec_args(org, "--", "env", "-0")
    full, _ = full_and_fast(args, exec_env)
    (index,) = cache_dir(exec_env).glob("*.idx")
    data = index.read_bytes()
    changed = tamper(data)
    assert changed != data
    index.write_bytes(changed)
    answered, full_ran = traced(args, exec_env)
    assert full_ran and answered.code == 0 and answered.stdout == full.stdout
    assert org.token_request_count == 1


def test_an_index_others_can_read_or_a_refreshed_entry_takes_the_full_command(
    org: FaultyEmulator, exec_env: dict[str, str]
) -> None:
    args = exec_args(org, "--", "env", "-0")
    full, _ = full_and_fast(args, exec_env)
    (index,) = cache_dir(exec_env).glob("*.idx")
    index.chmod(0o644)
    answered, full_ran = traced(args, exec_env)
    assert full_ran and answered.stdout == full.stdout
    assert stat.S_IMODE(index.stat().st_mode) == 0o600  # the full command wrote it again
    assert not traced(args, exec_env)[1]
    # Another process replaces the token: the index names the entry it was made from, so the
    # command gets the new token from the full command, then from the fast path again.
    refreshed = traced(exec_args(org, "--refresh", "--", "env", "-0"), exec_env)[0]
    new_token = variables(refreshed.stdout)["SF_ACCESS_TOKEN"]
    assert new_token != variables(full.stdout)["SF_ACCESS_TOKEN"]
    for expect_full in (True, False):
        answered, full_ran = traced(args, exec_env)
        assert full_ran is expect_full
        assert variables(answered.stdout)["SF_ACCESS_TOKEN"] == new_token
    assert org.token_request_count == 2


@pytest.mark.parametrize("options", FULL_ONLY, ids=" ".join)
def test_the_excluded_options_never_take_the_fast_path(
    org: FaultyEmulator, exec_env: dict[str, str], tmp_path: Path, options: list[str]
) -> None:
    env = {**exec_env, "GITHUB_ENV": str(tmp_path / "github-env")}
    assert traced(exec_args(org, "--", "true"), env)[0].code == 0  # the plain options' index
    for _ in range(2):  # and none recorded for these
        answered, full_ran = traced(exec_args(org, *options, "--", "true"), env)
        assert full_ran and answered.code == 0, answered.stderr


def test_a_reported_rejection_or_a_running_endpoint_never_takes_the_fast_path(
    org: FaultyEmulator, exec_env: dict[str, str]
) -> None:
    args = exec_args(org, "--", "true")
    assert not full_and_fast(args, exec_env)[1].code
    rejected = {**exec_env, "SF_CREDPROC_REJECTED_SHA256": "0" * 64}
    assert traced(args, rejected)[1]
    endpoint = {**exec_env, "SF_CREDPROC_SERVER_URL": "http://127.0.0.1:9"}
    answered, full_ran = traced(args, endpoint)
    assert full_ran and answered.code != 0


def test_no_secret_in_the_command_line_the_index_or_file_names(
    org: FaultyEmulator, exec_env: dict[str, str], app_key: rsa.RSAPrivateKey
) -> None:
    """The token stays in the entry: the index holds the names to remove and the recipe of the
    variables to add, never a secret's value."""
    show_argv = ["/bin/sh", "-c", 'tr "\\0" "\\n" < /proc/$$/cmdline']
    full, fast = full_and_fast(exec_args(org, "--cumulusci-org", "dev", "--", *show_argv), exec_env)
    assert fast.stdout == full.stdout == "".join(f"{arg}\n" for arg in show_argv)
    (token,) = org.sessions
    (index,) = cache_dir(exec_env).glob("*.idx")
    assert stat.S_IMODE(index.stat().st_mode) == 0o600
    data = index.read_bytes()
    assert b"sf-credproc-exec/1" in data and b"SF_ACCESS_TOKEN" in data
    secrets = [token, token.split("!", 1)[-1], VAULT_TOKEN, PASSPHRASE.decode(), *SECRETS]
    for secret in secrets:
        assert secret.encode() not in data
    for path in cache_dir(exec_env).rglob("*"):
        assert not any(secret in path.name for secret in secrets)


def test_the_exec_hit_imports_no_more_than_the_get_hit(
    org: FaultyEmulator, exec_env: dict[str, str]
) -> None:
    """Nothing heavy, not even shutil (``os.execvpe`` finds the program) or the cache package's
    writers: measured in a real process."""
    args = exec_args(org, "--", "true")
    full_and_fast(args, exec_env)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(EXE), *args],
        env=exec_env,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    ours = {name for name in imported if name.split(".")[0] == "sf_credproc"}
    assert ours == {
        "sf_credproc",
        "sf_credproc.launch",
        "sf_credproc.fast_path",
        "sf_credproc.paths",
        "sf_credproc.cache",
        "sf_credproc.cache.disk",
        "sf_credproc.exec_recipe",
        "sf_credproc.shell_signals",
    }
    for name in (
        *("shutil", "json", "argparse", "hashlib", "requests", "boto3", "cryptography"),
        "signal",  # the built-in _signal restores the dispositions (shell_signals.py)
    ):
        assert name not in imported


def test_a_recipe_round_trips_and_refuses_what_it_cannot_keep_out() -> None:
    token = "00Dxx0000000001!AQexample.token"
    line = json.dumps({"Version": 1, "AccessToken": token}).encode()
    added = {"A": token, "B": f"x{token}y{token}", "C": "no token=here", "D": ""}
    recipe = encode_recipe(remove=["SECRET"], variables=added, token=token, credential_line=line)
    assert recipe is not None and token.encode() not in recipe
    environ = {"SECRET": "s", "C": "old", "KEEP": "k"}
    assert child_environment(recipe, line, environ) == {"C": "no token=here", "KEEP": "k"} | {
        "A": token,
        "B": f"x{token}y{token}",
        "D": "",
    }
    assert list(child_environment(recipe, line, environ) or {}) == ["C", "KEEP", "A", "B", "D"]
    # JSON would escape it, or it is not in the line: never recorded.
    for odd in ('00D!a"b', "00D!a\\b", "00D!é", "", "absent"):
        assert (
            encode_recipe(remove=[], variables={"A": odd}, token=odd, credential_line=line) is None
        )
    # The recipe read against another line is refused, never a guess.
    assert child_environment(recipe, line.replace(b'"Version": 1', b'"Version": 10'), {}) is None


def test_the_exec_benchmark_prints_every_row() -> None:
    """``benchmarks/bench_exec.py`` at a tiny scale: every row, the subject's exec hit on the fast
    path (the script checks it), no login during the rounds; never how fast anything is."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_exec.py"
    done = subprocess.run(
        [sys.executable, str(script), "--rounds", "2"],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    names = [row.split(" | ")[0].lstrip("| ") for row in done.stdout.splitlines()[2:]]
    assert names == [
        "python -c pass",
        "get, hit",
        "exec -- /bin/true, hit",
        "exec -- /bin/true, hit, full command",
        "machine",
    ]
