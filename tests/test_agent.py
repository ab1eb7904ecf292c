"""``sf-credproc agent``: sinks written atomically with the right content and mode, bad sinks
refused before any login, the long-running agent rewriting its files until SIGTERM, and what a
consumer finds while Salesforce is down.

Against the emulator over HTTPS. ``--once`` runs in this process; the long-running command runs as
a real process (signals); the refresh loop runs in this process on a ``SkippingClock`` where a test
needs many refreshes or a token to expire (``agent_fixtures.in_process_agent``).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from agent_fixtures import (
    PATIENCE_SECONDS,
    SHORT_SESSION,
    agent_args,
    agent_process,
    eventually,
    in_process_agent,
    leftovers,
    read_or_none,
)
from faulty_emulator import CannedResponse, FaultyEmulator
from helpers import EXE, run_cli, run_process

from sf_credproc.credential import Credential

REFRESHES = 100
#: Salesforce down: more canned 503s than the refresher will ever ask for while the test runs.
OUTAGE = [CannedResponse(503, b"<html>Service Unavailable</html>")] * 100_000


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- --once: every sink, its content, its mode --------------------------------------------------


def test_once_writes_every_sink_in_its_format_and_mode(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    sinks = tmp_path / "sinks"
    sinks.mkdir()
    run = run_cli(
        agent_args(
            org,
            key,
            "--once",
            "--sink", str(sinks / "credential.json"),
            "--sink", f"{sinks / 'token'},format=token",
            "--sink", f"{sinks / 'sf.env'},mode=0640,format=env",
        ),
        env,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.stdout == "" and run.stderr == ""  # 0640 lets the group read: no warning
    document = json.loads((sinks / "credential.json").read_text())
    token = document["AccessToken"]
    assert document["Version"] == 1 and token in org.sessions
    assert (sinks / "token").read_text() == token + "\n"
    sourced = subprocess.run(
        ["sh", "-c", f'. {shlex.quote(str(sinks / "sf.env"))} && printf %s "$SF_ACCESS_TOKEN"'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": env["PATH"]},
    )
    assert sourced.stdout == token
    assert mode_of(sinks / "credential.json") == 0o600
    assert mode_of(sinks / "token") == 0o600
    assert mode_of(sinks / "sf.env") == 0o640
    assert leftovers(sinks) == []
    assert org.token_request_count == 1


def test_once_sets_the_mode_whatever_the_umask_and_replaces_an_old_file(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    sink = tmp_path / "token"
    sink.write_text("stale\n")
    sink.chmod(0o644)
    # A process whose umask would strip the group's read bit from a plain open().
    command = agent_args(org, key, "--once", "--sink", f"{sink},format=token,mode=0640")
    done = subprocess.run(
        ["sh", "-c", 'umask 077 && exec "$0" "$@"', str(EXE), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=PATIENCE_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert sink.read_text().strip() in org.sessions
    assert mode_of(sink) == 0o640


def test_once_removes_the_temporary_files_a_killed_agent_left(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    left = tmp_path / ".token.sf-credproc-0123456789ab.tmp"
    left.write_text("half a tok")
    another_sinks = tmp_path / ".other.sf-credproc-0123456789ab.tmp"  # another sink's: not ours
    another_sinks.write_text("x")
    sink = tmp_path / "token"
    run = run_cli(agent_args(org, key, "--once", "--sink", f"{sink},format=token"), env)
    assert run.code == 0, run.stderr
    assert not left.exists() and another_sinks.exists()
    assert sink.read_text().strip() in org.sessions


def test_a_sink_others_may_read_is_accepted_with_one_warning(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    sink = tmp_path / "token"
    run = run_cli(agent_args(org, key, "--once", "--sink", f"{sink},format=token,mode=644"), env)
    assert run.code == 0, run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith("sf-credproc: warning: ") and "every local user" in line
    assert mode_of(sink) == 0o644


def test_once_fails_like_get_and_writes_nothing(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    sink = tmp_path / "credential.json"
    args = agent_args(org, key, "--once", "--sink", str(sink))
    args[args.index("--username") + 1] = "nobody@acme.example"
    run_cli(args, env).assert_failed(4)
    assert not sink.exists() and leftovers(tmp_path) == []


# --- bad sinks: refused before any login ---------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("{dir}/t,mode=0620", "group or others write"),
        ("{dir}/t,mode=0602", "group or others write"),
        ("{dir}/t,mode=666", "group or others write"),
        ("{dir}/t,mode=4600", "not 3 or 4 octal digits"),
        ("{dir}/t,mode=0x600", "not 3 or 4 octal digits"),
        ("{dir}/t,mode=0000", "nobody read"),
        ("{dir}/t,format=yaml", "unknown format 'yaml'"),
        ("{dir}/t,format=header", "unknown format 'header'"),
        ("{dir}/t,format=json,format=token", "format= given twice"),
        ("{dir}/t,colour=red", "unknown part 'colour=red'"),
        ("{dir}/t,mode", "unknown part 'mode'"),
        (",format=json", "no path"),
        ("{dir}/missing/t", "does not exist"),
        ("{dir}", "is a directory"),
    ],
)
def test_a_bad_sink_is_refused_before_any_login(
    spec: str, needle: str, org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    value = spec.format(dir=tmp_path)
    run = run_cli(agent_args(org, key, "--sink", value), env)
    run.assert_failed(2, f"--sink {value!r}", needle)
    assert org.token_request_count == 0


def test_no_sink_or_one_path_twice_is_refused(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    run_cli(agent_args(org, key, "--once"), env).assert_failed(2, "at least one --sink")
    twice = agent_args(
        org, key, "--sink", str(tmp_path / "t"), "--sink", f"{tmp_path / 't'},format=token"
    )
    run_cli(twice, env).assert_failed(2, "named by two --sink")
    assert org.token_request_count == 0


def test_a_symlink_at_the_sink_is_refused_and_its_target_untouched(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    link = tmp_path / "token"
    link.symlink_to(target)
    run = run_cli(agent_args(org, key, "--once", "--sink", f"{link},format=token"), env)
    run.assert_failed(2, "is a symbolic link")
    assert target.read_text() == "keep me\n" and link.is_symlink()
    assert org.token_request_count == 0


def test_a_fifo_at_the_sink_is_refused_without_waiting_for_a_reader(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    fifo = tmp_path / "token"
    os.mkfifo(fifo)
    # A process: were the FIFO opened, it would block until --timeout (and the test's bound).
    run = run_process(
        agent_args(org, key, "--once", "--timeout", "20", "--sink", str(fifo)), env, timeout=15
    )
    run.assert_failed(2, "is a FIFO")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert org.token_request_count == 0


# --- the long-running agent: a real process ------------------------------------------------------


def test_the_agent_rewrites_its_sinks_and_sigterm_ends_it_cleanly(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    json_sink, token_sink = tmp_path / "credential.json", tmp_path / "token"
    args = agent_args(
        org, key, "-v", *SHORT_SESSION,
        "--sink", str(json_sink), "--sink", f"{token_sink},format=token",
    )  # fmt: skip
    with agent_process(args, env) as agent:
        assert eventually(lambda: read_or_none(token_sink) is not None)
        first = (read_or_none(token_sink) or "").strip()

        def replaced() -> bool:
            token = (read_or_none(token_sink) or "").strip()
            return token not in ("", first)

        assert eventually(replaced), "the token was never replaced"
        second = (read_or_none(token_sink) or "").strip()
        assert eventually(lambda: json.loads(json_sink.read_text())["AccessToken"] != first)
        run = agent.stop(signal.SIGTERM)
    assert run.code == 0, run.stderr
    assert run.stdout == ""
    assert first in org.sessions and second in org.sessions
    assert "wrote " + str(token_sink) in run.stderr and "sha256:" in run.stderr
    assert "Traceback" not in run.stderr and "error" not in run.stderr.lower()
    assert leftovers(tmp_path) == []
    assert json.loads(json_sink.read_text())["Version"] == 1  # left in place, complete


def test_sigint_stops_the_agent_with_130(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    sink = tmp_path / "token"
    with agent_process(agent_args(org, key, "--sink", f"{sink},format=token"), env) as agent:
        assert eventually(lambda: read_or_none(sink) is not None)
        run = agent.stop(signal.SIGINT)
    assert run.code == 130, run.stderr
    assert run.stdout == "" and "Traceback" not in run.stderr
    assert leftovers(tmp_path) == []


# --- the refresh loop in this process, on a skipping clock --------------------------------------


def test_a_reader_never_sees_a_partial_file_during_100_refreshes(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    sink = tmp_path / "credential.json"
    with in_process_agent(org, key, env, [str(sink)]) as running:
        done = threading.Event()
        reads: list[str] = []
        broken: list[str] = []

        def read_continuously() -> None:
            while not done.is_set():
                text = sink.read_text()  # FileNotFoundError would fail the test too
                try:
                    reads.append(json.loads(text)["AccessToken"])
                except (ValueError, KeyError):
                    broken.append(text)

        reader = threading.Thread(target=read_continuously)
        reader.start()
        try:
            for _ in range(REFRESHES):
                writes = running.agent.writes
                running.age_to(600)  # the advisory window
                running.wait_for(lambda writes=writes: running.agent.writes > writes)  # type: ignore[misc]
        finally:
            done.set()
            reader.join(PATIENCE_SECONDS)
        assert running.agent.keeper.refreshes == REFRESHES
    assert broken == []
    assert len(set(reads)) > 1 and all(token in org.sessions for token in reads)
    assert leftovers(tmp_path) == []


def test_salesforce_down_keeps_the_file_while_valid_then_removes_it_then_writes_again(
    org: FaultyEmulator,
    key: str,
    env: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = tmp_path / "token"
    with in_process_agent(org, key, env, [f"{sink},format=token"]) as running:
        agent = running.agent
        old = sink.read_text()
        held = agent.keeper.held
        assert held is not None and old == held.access_token + "\n"
        with org.lock:
            org.canned_responses.extend(OUTAGE)
        for seconds_left in (600, 100):  # the advisory window, then the mandatory one
            failures = agent.refresher.failures
            running.age_to(seconds_left)
            assert eventually(lambda failures=failures: agent.refresher.failures > failures)  # type: ignore[misc]
            assert sink.read_text() == old and agent.writes == 1  # still valid: kept
        running.age_to(-1)  # expired, and still no new token
        running.wait_for(lambda: agent.removals == 1)
        assert not sink.exists()
        with org.lock:
            org.canned_responses.clear()  # Salesforce is back
        running.clock.advance(120)  # past the refresher's backoff
        running.agent.refresher.wake()
        running.wait_for(lambda: agent.writes == 2)
        new = sink.read_text().strip()
        assert new + "\n" != old and new in org.sessions
        assert isinstance(agent.keeper.held, Credential)
    assert leftovers(tmp_path) == []
    said = "\n".join(record.getMessage() for record in caplog.records)
    assert "expired at" in said and "removed the file" in said
    for token in org.sessions:
        assert token.split("!", 1)[-1] not in said, "a token leaked to the log"


def test_a_sink_turned_into_a_directory_is_warned_about_and_written_once_it_is_back(
    org: FaultyEmulator,
    key: str,
    env: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, other = tmp_path / "token", tmp_path / "credential.json"
    with in_process_agent(org, key, env, [f"{sink},format=token", str(other)]) as running:
        agent = running.agent
        sink.unlink()
        sink.mkdir()
        running.age_to(600)
        running.wait_for(lambda: agent.writes == 3)  # the other sink, rewritten
        assert sink.is_dir() and leftovers(tmp_path) == []
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert any(f"cannot write {sink}" in w and "is a directory" in w for w in warnings)
        sink.rmdir()
        running.wait_for(lambda: agent.writes == 4)  # retried at the next poll
        held = agent.keeper.held
        assert held is not None and sink.read_text() == held.access_token + "\n"
    assert leftovers(tmp_path) == []
