"""``exec``'s command starts with the signal dispositions a shell would give it, on every path.

CPython ignores SIGPIPE and SIGXFSZ in itself, and an ignored disposition survives ``execve``;
``exec`` puts both back to the default before it becomes the command (``shell_signals.py``), as
``subprocess`` does for ``exec --server``'s child. A signal the caller ignored (SIGHUP under
``nohup``, SIGTERM) is neither caught nor forwarded and reaches the command ignored, as a shell
passes it on; ``get`` and ``serve`` still end cleanly on a SIGTERM nobody ignored (tested in
``test_faults.py``, ``test_serve_lifecycle.py``, ``test_exec_server.py``, ``test_agent.py``). Every
run is a real process of the installed command, started by ``bash`` (the shell whose dispositions are the reference), under
``-X importtime``, whose trace (on stderr) tells which path answered: the fast path never loads
``sf_credproc.cli.main``. The full command is forced on a cache hit by removing the index, the
fast path by the index the full command recorded (as in ``test_exec_fast_path.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from faulty_emulator import FaultyEmulator
from helpers import EXE, Run, assert_no_leaks, get_args, run_cli
from serve_fixtures import held_org, holding_emulator  # noqa: F401 (fixtures)
from test_auth_refresh import HoldingEmulator

#: The shell ignores SIGHUP (``nohup``'s way) before it runs anything: an inherited SIG_IGN that
#: nobody asked ``exec`` to undo, and that a shell and ``subprocess`` both pass on as it is.
IGNORE_HANGUP = "trap '' HUP\n"
#: The same for SIGTERM, which nothing in a shell or ``nohup`` ignores unless asked.
IGNORE_TERM = "trap '' TERM\n"
#: Runs ``sf-credproc "$@"``, its trace (and the command's stderr) in ``$TRACE``.
SF_CREDPROC = '"$PYTHON" -X importtime "$EXE" "$@" 2>"$TRACE"'
#: The lines of ``/proc/self/status`` that hold the ignored and the blocked signals, as masks.
SIGNAL_MASKS = ["grep", "-E", "^Sig(Ign|Blk):", "/proc/self/status"]
SIGHUP, SIGPIPE, SIGTERM, SIGXFSZ = 1, 13, 15, 25
PATHS = ["full", "fast", "server"]


def exec_args(org: FaultyEmulator, key: str, path: str) -> list[str]:
    server = ["--server"] if path == "server" else []
    return ["exec", *get_args(org, key)[1:], *server]


def forget_indexes(env: dict[str, str]) -> None:
    for index in (Path(env["XDG_CACHE_HOME"]) / "sf-credproc").glob("*.idx"):
        index.unlink()


def in_bash(
    script: str, args: list[str], env: dict[str, str], trace: Path
) -> tuple[Run, list[str]]:
    """``script`` run by bash with ``args`` as ``"$@"``: its output, with the command's stderr
    (the trace's lines left out), and the modules sf-credproc imported, in the trace's order."""
    done = subprocess.run(
        ["bash", "-c", script, "bash", *args],
        env={**env, "PYTHON": sys.executable, "EXE": str(EXE), "TRACE": str(trace)},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    lines = trace.read_text().splitlines() if trace.exists() else []
    imported = [line.split("|")[-1].strip() for line in lines if line.startswith("import time:")]
    stderr = "".join(f"{line}\n" for line in lines if not line.startswith("import time:"))
    run = Run(done.returncode, done.stdout, done.stderr + stderr)
    assert_no_leaks(run)
    assert "sf_credproc.launch" in imported, run.stderr[-2000:]
    return run, imported


def on_path(
    path: str, script: str, args: list[str], env: dict[str, str], tmp_path: Path
) -> tuple[Run, list[str]]:
    """``script`` with the answer of ``path``: the full command (no index), the fast path (the
    index recorded by a first ``exec`` with the same options), or ``exec --server`` (always the
    full command: it is never recorded). Returns what ``in_bash`` does."""
    trace = tmp_path / "trace"
    forget_indexes(env)
    if path == "fast":
        split = args.index("--")
        first, _ = in_bash(f"{SF_CREDPROC} >/dev/null", [*args[:split], "--", "true"], env, trace)
        assert first.code == 0, first.stderr
    return in_bash(script, args, env, trace)


def answered_by(imported: list[str]) -> str:
    """Which path became the command: the fast path never loads the full command's modules."""
    return "full" if "sf_credproc.cli.main" in imported else "fast"


def masks(status_lines: str) -> dict[str, int]:
    """``SigIgn`` and ``SigBlk`` of ``/proc/PID/status`` as integers (bit N-1 is signal N)."""
    fields = (line.split(":") for line in status_lines.splitlines())
    return {name: int(value, 16) for name, value in fields}


@pytest.mark.parametrize("path", PATHS)
def test_the_command_ignores_what_a_shell_would_have_it_ignore(
    org: FaultyEmulator, env: dict[str, str], key: str, path: str, tmp_path: Path
) -> None:
    """Neither SIGPIPE nor SIGXFSZ is ignored; SIGHUP, which the caller ignored, still is (a
    shell, ``nohup`` and ``subprocess`` keep an inherited SIG_IGN, and so does ``exec``); nothing
    is blocked. The masks are those the same shell gives the same command run directly."""
    shell = subprocess.run(
        ["bash", "-c", IGNORE_HANGUP + '"$@"', "bash", *SIGNAL_MASKS],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    reference = masks(shell.stdout)
    assert reference["SigIgn"] & (1 << (SIGHUP - 1))
    assert not reference["SigIgn"] & (1 << (SIGPIPE - 1) | 1 << (SIGXFSZ - 1))
    run, imported = on_path(
        path,
        IGNORE_HANGUP + SF_CREDPROC,
        [*exec_args(org, key, path), "--", *SIGNAL_MASKS],
        env,
        tmp_path,
    )
    assert run.code == 0, run.stderr
    assert answered_by(imported) == ("fast" if path == "fast" else "full")
    seen = masks(run.stdout)
    assert not seen["SigIgn"] & (1 << (SIGPIPE - 1)), run.stdout
    assert not seen["SigIgn"] & (1 << (SIGXFSZ - 1)), run.stdout
    assert seen == reference
    assert org.token_request_count == 1


@pytest.mark.parametrize("ignored", [True, False], ids=["ignored", "default"])
@pytest.mark.parametrize("path", PATHS)
def test_the_command_ignores_sigterm_when_and_only_when_the_caller_did(
    org: FaultyEmulator, env: dict[str, str], key: str, path: str, ignored: bool, tmp_path: Path
) -> None:
    """An ignored SIGTERM stays ignored, as CPython leaves an ignored SIGINT: the full command
    neither catches it (which would hand the command SIGTERM at the default, unlike the fast path,
    which never touches it) nor forwards it (``--server``); a SIGTERM at the default stays so."""
    run, imported = on_path(
        path,
        (IGNORE_TERM if ignored else "") + SF_CREDPROC,
        [*exec_args(org, key, path), "--", *SIGNAL_MASKS],
        env,
        tmp_path,
    )
    assert run.code == 0, run.stderr
    assert answered_by(imported) == ("fast" if path == "fast" else "full")
    assert bool(masks(run.stdout)["SigIgn"] & (1 << (SIGTERM - 1))) is ignored, run.stdout
    assert org.token_request_count == 1


#: ``exec --server``'s child: says whether it started with SIGHUP ignored, then reports each
#: SIGHUP and SIGTERM that reaches it, and exits 7 on SIGTERM.
HANGUP_CHILD = r"""
import os, signal, time
with open("/proc/self/status") as status:
    ignored = next(int(line.split()[1], 16) for line in status if line.startswith("SigIgn:"))
print("SIGHUP ignored" if ignored & 1 else "SIGHUP at its default", flush=True)
def got(signum, frame):
    os.write(1, b"got %d\n" % signum)  # not print: the signal may come while print flushes
    if signum == signal.SIGTERM:
        os._exit(7)
signal.signal(signal.SIGHUP, got)
signal.signal(signal.SIGTERM, got)
print("ready", flush=True)
time.sleep(120)
os._exit(1)
"""


def test_exec_server_s_child_keeps_an_ignored_sighup(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """``nohup sf-credproc exec --server -- JOB``: the child starts with SIGHUP ignored, as a shell
    and ``subprocess`` leave it, and a hangup sent to sf-credproc is not passed on (the child,
    which set its own SIGHUP handler, sees only the SIGTERM sent after it, which is forwarded).
    Forwarded, the hangup would reach the child first: both are pending in sf-credproc together,
    and Python runs its handlers in signal-number order."""
    args = [*exec_args(org, key, "server"), "--", sys.executable, "-c", HANGUP_CHILD]
    process = subprocess.Popen(
        ["bash", "-c", IGNORE_HANGUP + 'exec "$EXE" "$@"', "bash", *args],
        env={**env, "EXE": str(EXE)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "SIGHUP ignored\n"
        assert process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGHUP)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert_no_leaks(Run(process.returncode, stdout, stderr))
    assert process.returncode == 7, stderr
    assert stdout == f"got {SIGTERM}\n"
    assert org.token_request_count == 1


def sigterm_ignored(pid: int) -> bool:
    """Whether process ``pid`` ignores SIGTERM now (``SigIgn`` of its ``/proc/PID/status``)."""
    status = Path(f"/proc/{pid}/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("SigIgn:")]
    return bool(masks(line)["SigIgn"] & (1 << (SIGTERM - 1)))


def test_get_with_sigterm_ignored_logs_in_through_a_sigterm(
    held_org: HoldingEmulator,  # noqa: F811 (the fixture)
    env: dict[str, str],
    key: str,
) -> None:
    """Any command, not only ``exec``: started with SIGTERM ignored, ``get`` still ignores it
    while its login is in progress, so a SIGTERM then changes nothing (the kernel drops it)."""
    held_org.gate.clear()
    process = subprocess.Popen(
        ["bash", "-c", IGNORE_TERM + 'exec "$EXE" "$@"', "bash", *get_args(held_org, key)],
        env={**env, "EXE": str(EXE)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert held_org.held.wait(60), "no login reached the emulator"
        assert sigterm_ignored(process.pid)
        process.send_signal(signal.SIGTERM)
        held_org.gate.set()
        stdout, stderr = process.communicate(timeout=60)
    finally:
        held_org.gate.set()
        if process.poll() is None:
            process.kill()
            process.communicate()
    run = Run(process.returncode, stdout, stderr)
    assert_no_leaks(run)
    assert run.code == 0, run.stderr
    assert run.credential()["AccessToken"]
    assert held_org.token_request_count == 1


def test_in_process_exec_keeps_the_host_s_ignored_sigterm(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """A host that ignores SIGTERM and runs ``exec`` in-process: the command inherits the SIG_IGN
    (nothing replaced it meanwhile), and the host's disposition is as it was afterwards."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        run = run_cli([*exec_args(org, key, "full"), "--", *SIGNAL_MASKS], env)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert run.code == 0, run.stderr
    assert masks(run.stdout)["SigIgn"] & (1 << (SIGTERM - 1)), run.stdout


@pytest.mark.parametrize("path", PATHS)
def test_yes_piped_into_head_dies_of_sigpipe(
    org: FaultyEmulator, env: dict[str, str], key: str, path: str, tmp_path: Path
) -> None:
    """``exec -- yes | head -c 1``: ``yes`` is killed by SIGPIPE when ``head`` has gone (bash
    reports 128 + 13), as it is when a shell runs it; ignoring SIGPIPE, it would write on and
    end with "Broken pipe" and exit 1."""
    run, imported = on_path(
        path,
        f'{SF_CREDPROC} | head -c 1\necho " ${{PIPESTATUS[*]}}"',
        [*exec_args(org, key, path), "--", "yes"],
        env,
        tmp_path,
    )
    assert answered_by(imported) == ("fast" if path == "fast" else "full")
    assert run.stdout == "y 141 0\n", run.stderr
    assert "Broken pipe" not in run.stderr and run.code == 0


def not_executable(tmp_path: Path) -> Path:
    """A file that passes for a command (executable, found) but that execve refuses: no ``#!``
    line and no binary format (ENOEXEC)."""
    program = tmp_path / "not-a-program"
    program.write_bytes(b"\x00\x01 neither a script nor a binary\n")
    program.chmod(0o755)
    return program


@pytest.mark.parametrize("path", ["full", "fast"])
def test_a_command_execve_refuses_fails_with_one_line_and_exit_2(
    org: FaultyEmulator, env: dict[str, str], key: str, path: str, tmp_path: Path
) -> None:
    """``exec``'s documented failure for a command that cannot run: one line, exit 2, nothing on
    stdout. On the fast path, its execve fails first (it loads ``shell_signals`` before the full
    command does anything), then the full command's, which says so."""
    program = not_executable(tmp_path)
    run, imported = on_path(
        path, SF_CREDPROC, [*exec_args(org, key, path), "--", str(program)], env, tmp_path
    )
    run.assert_failed(2, f"exec: cannot run {str(program)!r} (Exec format error)")
    assert len(run.stderr.splitlines()) == 1
    tried_first = imported.index("sf_credproc.shell_signals") < imported.index(
        "sf_credproc.cli.main"
    )
    assert tried_first is (path == "fast")
    assert org.token_request_count == 1


def closed_stderr_status(args: list[str], env: dict[str, str]) -> int:
    """The exit status of sf-credproc run with its stderr a pipe whose reader has gone."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [str(EXE), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=writer,
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    assert done.stdout == b""
    return done.returncode


@pytest.mark.parametrize("path", ["full", "fast"])
def test_after_a_refused_execve_a_closed_stderr_is_an_error_not_a_signal(
    org: FaultyEmulator, env: dict[str, str], key: str, path: str, tmp_path: Path
) -> None:
    """Left at the default after a failed execve, SIGPIPE would kill sf-credproc when it writes
    its error line to a stderr nobody reads; put back, the write fails inside the process, which
    ends as any other usage error does with that stderr (a command not found, which fails before
    any execve). No ``-X importtime`` here (its trace would go to that stderr): the fast path's
    index is the one a first run with the same options left, and it is removed for the full."""
    options = exec_args(org, key, path)
    first, _ = in_bash(SF_CREDPROC, [*options, "--", "true"], env, tmp_path / "trace")
    assert first.code == 0, first.stderr
    if path == "full":
        forget_indexes(env)
    not_found = closed_stderr_status([*options, "--", "no-such-command-for-exec"], env)
    assert not_found > 0  # an exit status, not a signal
    refused = closed_stderr_status([*options, "--", str(not_executable(tmp_path))], env)
    assert refused == not_found
