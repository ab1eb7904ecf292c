"""Hostile local files: a FIFO, a device, a directory, a symbolic link or an oversized file where
sf-credproc expects the config file, a ``file:`` key, a cache entry, an index or a lock.

Each ends with its documented exit code (or is a harmless cache miss) well within the deadline:
nothing blocks on a FIFO, nothing reads a device to the end, nothing is written through a link.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import (
    EXE,
    Run,
    assert_no_leaks,
    get_args,
    run_cli,
    run_process,
    run_timed,
    under_load,
)

from sf_credproc.cache.disk import MAX_FILE_BYTES
from sf_credproc.cache.files import FileTokenCache
from sf_credproc.cli.watchdog import GRACE_SECONDS
from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.keys.pem import MAX_KEY_MATERIAL_BYTES

#: The deadline of every command here: room for a login on a loaded machine (with 5 s, a login
#: under a load of 40 ran out of it). A command that blocked on what is planted would end at the
#: watchdog with exit 5, never the code these tests expect, however long the deadline.
TIMEOUT_SECONDS = 30
#: What a command needs outside its deadline (the interpreter's start, imports, the fast path,
#: parsing the command line) on an idle machine, with room to spare. On a busy one a process gets a
#: fraction of a core, so the allowance grows with the load (``helpers.under_load``).
START_SECONDS = 3.0
KINDS = ["fifo", "device", "directory", "symlink", "oversize"]


def cache_dir(env: dict[str, str]) -> Path:
    return Path(env["XDG_CACHE_HOME"]) / "sf-credproc"


def plant(path: Path, kind: str, oversize_bytes: int) -> None:
    """Put something hostile at ``path``, private to this user as a cache file would be."""
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "device":
        if os.getuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # what /dev/zero is
    elif kind == "directory":
        path.mkdir(mode=0o700)
        (path / "inside").write_bytes(b"x")
    elif kind == "symlink":
        # A link to a FIFO: whoever follows it blocks, whoever opens with O_NOFOLLOW does not.
        target = path.with_name(path.name + ".target")
        os.mkfifo(target, 0o600)
        path.symlink_to(target)
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(b"#" * (oversize_bytes + 1))


def run_process_timed(args: list[str], env: dict[str, str]) -> tuple[Run, float]:
    """As a process: the fast path meets the hostile file first (it takes the config file's
    identity and reads the cache), before the full command does. Blocking forever before the
    watchdog is armed (the fast path) ends at the timeout: the test fails."""
    started = time.monotonic()
    run = run_process(args, env, timeout=TIMEOUT_SECONDS + 20 + under_load(START_SECONDS))
    return run, time.monotonic() - started


def assert_within_deadline(elapsed: float) -> None:
    """The deadline, its watchdog's grace and what runs outside it. Blocking past the deadline
    ends at the watchdog (exit 5, never the code these tests expect); this bound catches what a
    watchdog cannot: a wait before it is armed, or one that still ends in time."""
    bound = TIMEOUT_SECONDS + GRACE_SECONDS + under_load(START_SECONDS)
    assert elapsed < bound, f"took {elapsed:.2f} s, more than {bound:.1f} s"


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_config_file_is_a_configuration_error(
    kind: str, org: SalesforceEmulator, env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    plant(config, kind, oversize_bytes=1024 * 1024)
    env["SF_CREDPROC_CONFIG"] = str(config)
    args = get_args(org, f"file:{key_file}", "--timeout", str(TIMEOUT_SECONDS))
    run, elapsed = run_process_timed(args, env)
    run.assert_failed(2, f"config file {config}")
    assert_within_deadline(elapsed)
    assert org.token_request_count == 0


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_key_file_is_a_key_source_error(
    kind: str, org: SalesforceEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    key = tmp_path / "key.pem"
    plant(key, kind, oversize_bytes=MAX_KEY_MATERIAL_BYTES)
    run, elapsed = run_timed(get_args(org, f"file:{key}", "--timeout", str(TIMEOUT_SECONDS)), env)
    run.assert_failed(3, f"file:{key}")
    assert_within_deadline(elapsed)
    assert org.token_request_count == 0


def test_dev_null_is_still_an_empty_config_file(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    env["SF_CREDPROC_CONFIG"] = os.devnull
    assert run_cli(get_args(org, f"file:{key_file}"), env).credential()["AccessToken"]


SUFFIXES = {"entry": ".cred", "index": ".idx", "lock": ".lock"}
#: (cache file, kind) -> the exit code. A cache file that can be replaced by a rename is a miss
#: (exit 0, a new login where the entry was hostile); a directory where the entry belongs and a
#: lock that is not a regular file cannot be replaced safely: exit 2, naming it, before any login.
CACHE_CASES = {
    **{("entry", kind): 0 for kind in KINDS},
    ("entry", "directory"): 2,
    **{("index", kind): 0 for kind in KINDS},
    **{("lock", kind): 2 for kind in KINDS},
    ("lock", "oversize"): 0,  # a lock's content is never read
}


@pytest.mark.parametrize(("target", "kind"), sorted(CACHE_CASES))
def test_hostile_cache_files_are_misses_or_a_clear_exit_2(
    target: str, kind: str, org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    args = get_args(org, f"file:{key_file}", "--timeout", str(TIMEOUT_SECONDS))
    first = run_cli(args, env).credential()  # makes the entry, the lock and the index
    directory = cache_dir(env)
    (path,) = directory.glob("*" + SUFFIXES[target])
    path.unlink()
    if target == "lock":
        (directory / path.name.replace(".lock", ".cred")).unlink()  # a miss: the lock is taken
    plant(path, kind, oversize_bytes=MAX_FILE_BYTES)

    run, elapsed = run_process_timed(args, env)  # the same invocation: through the fast path first
    assert_within_deadline(elapsed)
    expected = CACHE_CASES[(target, kind)]
    if expected == 2:
        run.assert_failed(2, str(path), "Remove it")
        assert org.token_request_count == 1  # refused before any login
        return
    credential = run.credential()
    logged_in_again = target != "index"
    assert (credential["AccessToken"] != first["AccessToken"]) == logged_in_again
    assert org.token_request_count == 1 + logged_in_again
    if target != "lock" and (target, kind) != ("index", "directory"):
        assert stat.S_ISREG(os.lstat(path).st_mode)  # replaced by a real entry or index
        assert run_cli(args, env).credential() == credential  # and served from it
        assert org.token_request_count == 1 + logged_in_again
    # Saving a new entry sweeps the indexes of the old one, whatever stands among them.
    assert run_cli([*args, "--refresh"], env).code == 0


@pytest.mark.parametrize("kind", ["under a regular file", "a regular file", "a FIFO"])
def test_unusable_cache_directory_is_exit_2(
    kind: str, org: SalesforceEmulator, env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    if kind == "a FIFO":
        os.mkfifo(blocker, 0o700)
    else:
        blocker.write_bytes(b"not a directory")
    directory = blocker / "cache" if kind == "under a regular file" else blocker
    args = get_args(
        org, f"file:{key_file}", "--cache-dir", str(directory), "--timeout", str(TIMEOUT_SECONDS)
    )
    run, elapsed = run_process_timed(args, env)
    run.assert_failed(2, f"cache directory {directory}")
    assert_within_deadline(elapsed)
    assert org.token_request_count == 0


def test_cache_clear_all_racing_writers_is_never_a_bug_exit(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    """``cache clear --all`` in a loop while processes log in and save: every run ends cleanly."""
    args = get_args(org, f"file:{key_file}")
    assert run_cli(args, env).code == 0
    directory = cache_dir(env)
    stop = threading.Event()
    clears: list[Run] = []

    def clear_tightly() -> None:
        cache = FileTokenCache(str(directory))
        while not stop.is_set():
            cache.clear()  # the command's own code, as often as a loop can call it

    def clear_with_the_command() -> None:
        while not stop.is_set():
            clears.append(run_cli(["cache", "clear", "--all"], env))

    def get_in_a_loop(results: list[Run]) -> None:
        for _ in range(6):
            results.append(run_cli(args, env))

    results: list[list[Run]] = [[], []]
    clearers = [
        threading.Thread(target=clear_tightly),
        threading.Thread(target=clear_with_the_command),
    ]
    getters = [threading.Thread(target=get_in_a_loop, args=(r,)) for r in results]
    for thread in [*clearers, *getters]:
        thread.start()
    for thread in getters:
        thread.join()
    stop.set()
    for thread in clearers:
        thread.join()
    assert clears
    for run in [*results[0], *results[1], *clears]:
        assert run.code == 0, run.stderr
        assert "Traceback" not in run.stderr


#: The process that becomes ``cert`` first plants a link to the victim at ``.<name>.<pid>.part``
#: beside ``--out`` (the predictable temporary name a writer using its pid would take), then
#: ``execv``s the command, which keeps the pid: the attack hits this very process, no pid guessed.
PLANT_THEN_EXEC = """
import os, sys
directory, name, victim = sys.argv[1:4]
os.symlink(victim, os.path.join(directory, f".{name}.{os.getpid()}.part"))
os.execv(sys.argv[4], sys.argv[4:])
"""
#: Names of the form ``mkstemp`` gives (``.<name>.XXXXXXXX.part``): a writer that reused one that
#: exists, rather than creating its own with ``O_EXCL``, would write through the link.
MKSTEMP_LIKE = ["aaaaaaaa", "zzzzzzzz", "00000000", "_part___", "tmp12345", "x" * 8]


@pytest.mark.parametrize("out_kind", ["absent", "a link to the victim"])
def test_cert_out_never_writes_through_a_planted_symlink(
    out_kind: str, env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    """Links to a victim planted where a writer could follow one: at ``--out`` itself, at this
    process's pid-based temporary name and at names of ``mkstemp``'s form. The victim keeps its
    bytes, every planted link stays as it was, ``--out`` becomes a regular file."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    out = tmp_path / "app.pem"
    if out_kind == "a link to the victim":
        out.symlink_to(victim)
    decoys = [tmp_path / f".{out.name}.{name}.part" for name in MKSTEMP_LIKE]
    for decoy in decoys:
        decoy.symlink_to(victim)
    command = [str(EXE), "cert", "--key", f"file:{key_file}", "--out", str(out)]
    process = subprocess.Popen(
        [sys.executable, "-c", PLANT_THEN_EXEC, str(tmp_path), out.name, str(victim), *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = process.communicate(timeout=60 + under_load(START_SECONDS))
    assert_no_leaks(Run(process.returncode, stdout, stderr))
    assert process.returncode == 0, stderr
    planted = [tmp_path / f".{out.name}.{process.pid}.part", *decoys]
    assert all(os.readlink(link) == str(victim) for link in planted)  # untouched, all of them
    assert victim.read_bytes() == b"precious"
    assert not out.is_symlink()
    assert out.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert not [
        p for p in tmp_path.iterdir() if p.name.startswith(".app.pem.") and not p.is_symlink()
    ]
    assert len([p for p in tmp_path.iterdir() if p.name.startswith(".app.pem.")]) == len(planted)


def test_github_env_that_is_a_fifo_without_reader_is_exit_2(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    github_env = tmp_path / "github-env"
    os.mkfifo(github_env, 0o600)
    env["GITHUB_ENV"] = str(github_env)
    args = get_args(
        org, f"file:{key_file}", "--format", "github", "--timeout", str(TIMEOUT_SECONDS)
    )
    run, elapsed = run_timed(args, env)
    run.assert_failed(2, "$GITHUB_ENV")
    assert_within_deadline(elapsed)
