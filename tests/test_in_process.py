"""The command run in-process (``cli.main.main``, as the Python API's hosts and these tests do)
leaves the process as it found it: signal dispositions, the interval timer, the ``sf_credproc``
logger, the environment, the standard streams."""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

from helpers import get_args, run_cli

from sf_credproc.emulator import SalesforceEmulator


def process_state() -> dict[str, Any]:
    logger = logging.getLogger("sf_credproc")
    return {
        "SIGALRM": signal.getsignal(signal.SIGALRM),
        "SIGTERM": signal.getsignal(signal.SIGTERM),
        "SIGINT": signal.getsignal(signal.SIGINT),
        "timer": signal.getitimer(signal.ITIMER_REAL),
        "handlers": list(logger.handlers),
        "level": logger.level,
        "propagate": logger.propagate,
        "environ": dict(os.environ),
        "streams": (sys.stdout, sys.stderr),
    }


def test_a_command_run_in_process_leaves_no_state_behind(
    org: SalesforceEmulator, env: dict[str, str], key: str
) -> None:
    before = process_state()
    run_cli([*get_args(org, key), "-v"], env).credential()  # armed the deadline, logged progress
    assert process_state() == before
    run_cli(get_args(org, "file:/nonexistent", "--no-cache"), env).assert_failed(3, "/nonexistent")
    assert process_state() == before
    exec_args = ["exec", *get_args(org, key)[1:], "--", "true"]
    assert run_cli(exec_args, env).code == 0
    assert process_state() == before
