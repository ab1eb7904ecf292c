"""A finished command ends its process at once, skipping the interpreter's teardown, only when
nothing is lost by it (``launch.end_process``), and a command that ends when its work is done runs
without the cyclic garbage collector (``launch.is_one_shot``; README, "Cold start, measured").

The end-to-end tests run the real entry point in a child process with an ``atexit`` handler and a
garbage-collection callback registered before it: a handler that never ran proves the teardown was
skipped, one that ran proves the usual exit was kept; a callback that never ran proves the
collector was off. The unit tests pass fakes at the functions' own seams.
"""

from __future__ import annotations

import gc
import io
import json
import subprocess
import sys
import threading

import pytest
from faulty_emulator import FaultyEmulator
from helpers import USERNAME, get_args

from sf_credproc.cli.main import main
from sf_credproc.launch import end_process, is_one_shot

#: The entry point as the console script runs it, with an ``atexit`` probe, a collection probe
#: (armed just before the command starts) and, when asked, a non-daemon thread still running
#: when the command finishes.
PROBE = """
import atexit, gc, sys, threading
atexit.register(lambda: print("TEARDOWN RAN", file=sys.stderr, flush=True))
if sys.argv[1] == "with-thread":
    # Alive until the main thread has finished: the interpreter's exit is what ends it.
    threading.Thread(target=threading.main_thread().join, daemon=False).start()
sys.argv = ["sf-credproc", *sys.argv[2:]]
from sf_credproc.launch import main
collected = []
def on_collection(phase, info):
    if phase == "stop" and not collected:
        collected.append(1)
        print("COLLECTOR RAN", file=sys.stderr, flush=True)
gc.collect()  # from here on, a collection is one the command set off
gc.callbacks.append(on_collection)
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
    # With the collector on, importing and logging in sets off dozens of collections.
    assert "COLLECTOR RAN" not in done.stderr


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


def test_a_command_that_stays_keeps_the_collector(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """``exec --server`` runs as long as its command: it collects garbage as usual."""
    command = [sys.executable, "-c", "import time; time.sleep(0.5)"]
    done = run_probe("plain", ["exec", "--server", *get_args(org, key)[1:], "--", *command], env)
    assert done.returncode == 0, done.stderr
    assert "COLLECTOR RAN" in done.stderr


@pytest.mark.parametrize(
    ("argv", "one_shot"),
    [
        (["get", "--no-cache"], True),
        (["exec", "--", "job", "--server"], True),  # the command's own argument
        (["exec", "--server", "--", "job"], False),
        (["exec", "--server"], False),
        (["logout"], True),
        (["cert", "--out", "x.crt"], True),
        (["doctor"], True),
        (["cache", "list"], True),
        (["serve"], False),
        (["agent"], False),
        (["demo"], False),
        (["emulator"], False),
        (["--help"], False),
        ([], False),
        (["gett"], False),
    ],
)
def test_which_commands_run_without_the_collector(argv: list[str], one_shot: bool) -> None:
    assert is_one_shot(argv) is one_shot


def test_the_command_run_in_process_leaves_the_collector_alone(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """Only the process's entry point turns it off: a host calling ``main`` keeps its own."""
    out, err = io.StringIO(), io.StringIO()
    assert gc.isenabled()
    assert main(get_args(org, key, "--no-cache"), environ=env, stdout=out, stderr=err) == 0
    assert gc.isenabled()
