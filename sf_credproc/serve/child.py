"""``exec --server``'s command: a child process that lives while this one serves it.

The child is started without a shell (``subprocess.Popen`` with the argument list,
``close_fds``), SIGTERM, SIGINT and SIGHUP sent to this process are passed on to it (as aws-vault
``exec --ecs-server`` does: the wrapper must not die and leave the child without its endpoint),
and its exit status becomes ours: its code, or 128 + N when signal N ended it, as shells report it.

A signal this process was started with ignored (SIGHUP under ``nohup``) is neither caught nor
passed on, and the child starts with it ignored too: an ignored disposition survives ``execve``
(POSIX.1-2017, *exec*), and ``subprocess``'s ``restore_signals`` resets only the ones CPython
ignores itself (SIGPIPE, SIGXFSZ), so the child is as immune as its caller asked this process to be.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from collections.abc import Iterator
from typing import IO, Any, TextIO

from ..errors import ConfigError

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def exit_status_of(returncode: int) -> int:
    """A child's status as a shell reports it: its code, or 128 + N after signal N."""
    return 128 - returncode if returncode < 0 else returncode


def run_child(
    program: str, argv: list[str], environment: dict[str, str], stdout: TextIO, stderr: TextIO
) -> int:
    """Run the command until it ends, signals forwarded; returns its exit status."""
    out_target, out_copy = _target(stdout)
    err_target, err_copy = _target(stderr)
    # The handlers are in place before the child exists: a signal that arrives while it starts
    # is passed on as soon as it runs, never lost or taken for this process's own end.
    with _forwarding() as children:
        try:
            child = subprocess.Popen(  # the user's own command, no shell
                argv,
                executable=program,
                env=environment,
                close_fds=True,
                stdout=out_target,
                stderr=err_target,
            )
        except OSError as error:
            raise ConfigError(
                f"exec: cannot run {argv[0]!r} ({error.strerror})",
                hint="Check that it is an executable file",
            ) from error
        children.started(child)
        copies = [
            _copy_in_thread(pipe, stream)
            for pipe, stream, wanted in (
                (child.stdout, stdout, out_copy),
                (child.stderr, stderr, err_copy),
            )
            if wanted and pipe is not None
        ]
        returncode = child.wait()
    for copy in copies:
        copy.join()
    return exit_status_of(returncode)


def _target(stream: TextIO) -> tuple[Any, bool]:
    """What the child writes to for ``stream``: the same descriptor when it has one (the
    process's own stdout), else a pipe copied into it (a caller's in-memory stream)."""
    try:
        stream.flush()
        return stream.fileno(), False
    except (AttributeError, OSError, ValueError):
        return subprocess.PIPE, True


def _copy_in_thread(pipe: IO[bytes], stream: TextIO) -> threading.Thread:
    def copy() -> None:
        with pipe:
            for line in iter(pipe.readline, b""):
                with contextlib.suppress(OSError, ValueError):  # a closed stream: dropped
                    stream.write(line.decode("utf-8", "replace"))
        with contextlib.suppress(OSError, ValueError):
            stream.flush()

    thread = threading.Thread(target=copy, name="sf-credproc-child-output", daemon=True)
    thread.start()
    return thread


class _Forwarder:
    """Signals received before the child started, then passed on as they come."""

    def __init__(self) -> None:
        self._child: subprocess.Popen[bytes] | None = None
        self._pending: list[int] = []

    def started(self, child: subprocess.Popen[bytes]) -> None:
        self._child = child
        while self._pending:
            self.forward(self._pending.pop(0), None)

    def forward(self, signum: int, frame: Any) -> None:
        if self._child is None:
            self._pending.append(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            self._child.send_signal(signum)


@contextlib.contextmanager
def _forwarding() -> Iterator[_Forwarder]:
    """Pass the signals on to the child while the block runs (main thread only: elsewhere a
    library caller's handlers are left alone)."""
    forwarder = _Forwarder()
    if threading.current_thread() is not threading.main_thread():
        yield forwarder
        return
    # An ignored signal stays ignored (module docstring): a handler here would both forward it
    # and, replaced by SIG_DFL at the child's execve, leave the child without the caller's SIG_IGN.
    previous = {
        signum: signal.signal(signum, forwarder.forward)
        for signum in FORWARDED_SIGNALS
        if signal.getsignal(signum) != signal.SIG_IGN
    }
    try:
        yield forwarder
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
