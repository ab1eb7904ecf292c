"""Standard streams that may be closed or whose reader may have gone.

A credential process is often run with its output piped to a reader that can exit early
(``| head``), or started with a descriptor closed (``>&-``). Neither is a bug of ours: the
credential is cached before it is written, so the failure is one line and exit 5 (transient: a rerun
succeeds), never a traceback from the interpreter's final flush.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from ..errors import OutputClosedError


def write_output(out: TextIO, text: str, *, cached: bool) -> None:
    """Write and flush ``text``; a closed stdout or a reader that has gone is exit 5, not a bug."""
    try:
        out.write(text)
        out.flush()
    except (OSError, ValueError, OutputClosedError) as error:  # ValueError: a closed file
        gone = isinstance(error, BrokenPipeError)
        what = "its reader has gone (broken pipe)" if gone else "it is closed"
        raise OutputClosedError(
            f"the credential could not be written to stdout: {what}",
            hint="The token is cached: run the command again with its output read"
            if cached
            else "Run the command again with its output read",
        ) from error


class ClosedStream:
    """Stands in for a standard stream the process was started without."""

    def __init__(self, *, quiet: bool = False) -> None:
        self._quiet = quiet

    def write(self, text: str) -> int:
        if self._quiet:
            return len(text)  # no stderr to speak on: the exit code says it
        raise OutputClosedError(
            "the output could not be written to stdout: it is closed",
            hint="Run the command again with stdout open",
        )

    def flush(self) -> None:
        pass


def discard_stdout() -> None:
    """Point descriptor 1 at /dev/null, so that the interpreter's final flush of what could not
    be written raises nothing (Python's own advice for SIGPIPE, in the signal module's docs)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
