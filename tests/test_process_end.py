"""A finished command ends its process at once, skipping the interpreter's teardown, only when
nothing is lost by it (``launch.end_process``; README, "Cold start, measured").

The end-to-end tests run the real entry point in a child process with an ``atexit`` handler
registered before it: a handler that never ran proves the teardown was skipped; one that ran proves
the usual exit was kept. The unit tests pass fakes at the function's own seams.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading

from faulty_emulator import FaultyEmulator
from helpers import USERNAME, get_args

from sf_credproc.launch import end_process

#: The entry point as the console script runs it, with an ``atexit`` probe and, when asked, a
#: non-daemon thread still running when the command finishes.
PROBE = """
import atexit, sys, threading
atexit.register(lambda: print("TEARDOWN RAN", file=sys.stderr, flush=True))
if sys.argv[1] == "with-thread":
    # Alive until the main thread has finished: the interpreter's exit is what ends it.
    threading.Thread(target=threading.main_thread().join, daemon=False).start()
sys.argv = ["sf-credproc", *sys.argv[2:]]
from sf_credproc.launch import main
sys.exit(main())
"""


def run_probe(mode: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, mode, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_a_finished_get_prints_everything_and_skips_the_teardown(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    done = run_probe("plain", get_args(org, key, "--no-cache"), env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Username"] == USERNAME  # the whole line, flushed
    assert "TEARDOWN RAN" not in done.stderr


def test_a_failure_keeps_its_exit_status_and_its_line(
    org: FaultyEmulator, env: dict[str, str], tmp_path: object
) -> None:
    done = run_probe("plain", get_args(org, "file:/nonexistent/key.pem", "--no-cache"), env)
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "no such file" in done.stderr
    assert "TEARDOWN RAN" not in done.stderr


def test_a_thread_still_running_keeps_the_usual_exit(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    done = run_probe("with-thread", get_args(org, key, "--no-cache"), env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Username"] == USERNAME
    assert "TEARDOWN RAN" in done.stderr  # the interpreter waited for the thread, then tore down


class BrokenStream(io.StringIO):
    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_end_process_exits_with_the_status_after_flushing() -> None:
    exits: list[int] = []
    out, err = io.StringIO(), io.StringIO()
    assert end_process(4, exits.append, (out, err)) == 4
    assert exits == [4]


def test_end_process_leaves_a_failed_flush_to_the_usual_exit() -> None:
    exits: list[int] = []
    assert end_process(0, exits.append, (BrokenStream(), io.StringIO())) == 0
    assert exits == []


def test_end_process_leaves_a_running_thread_to_the_usual_exit() -> None:
    release = threading.Event()
    worker = threading.Thread(target=release.wait, daemon=False)
    worker.start()
    try:
        exits: list[int] = []
        assert end_process(0, exits.append, (io.StringIO(), None)) == 0
        assert exits == []
    finally:
        release.set()
        worker.join()
    exits = []
    end_process(0, exits.append, (io.StringIO(), None))
    assert exits == [0]  # the thread has ended: nothing left to wait for
