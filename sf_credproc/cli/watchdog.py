"""The command's hard deadline, and SIGTERM as a clean interruption.

Every network call has its own timeouts cut from ``--timeout``, but a read timeout bounds each read,
not a whole answer, and a server can trickle headers forever. So the command line arms a real-time
interval timer at ``--timeout`` + 0.5 s: SIGALRM raises the deadline error wherever the main thread
is, and the same clean-up runs as for any error (no partial cache entry, lock released, nothing on
stdout). SIGTERM raises ``Terminated`` so that it, too, unwinds like Ctrl-C, unless the process was
started with SIGTERM ignored (``catch_sigterm``). Only the main thread can take signals; elsewhere
(a library caller's thread) these are no-ops.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import signal
else:
    try:  # CPython's built-in module, as in ``shell_signals.py``: ``signal``'s enums cost every start
        import _signal as signal
    except ImportError:  # an interpreter without it
        import signal

from ..errors import Terminated, TransientError

GRACE_SECONDS = 0.5

#: The SIGALRM disposition ``arm`` replaced, put back by ``disarm``: a command run in-process (the
#: Python API's host, a test) leaves the host's signal handling as it found it.
_replaced_alarm: list[Any] = []


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def arm(timeout_seconds: float) -> None:
    """Raise the deadline error in the main thread ``timeout_seconds`` + grace from now (called by
    the command line's funnel when a command resolves its settings)."""
    if not _in_main_thread():
        return

    def expire(signum: int, frame: Any) -> None:
        raise TransientError(
            f"the {timeout_seconds:g} s deadline passed",
            hint="Retry later, or raise --timeout",
            retryable=False,
        )

    previous = signal.signal(signal.SIGALRM, expire)
    if not _replaced_alarm:
        # None: a handler not installed from Python, which cannot be put back; the default can.
        _replaced_alarm.append(signal.SIG_DFL if previous is None else previous)
    signal.setitimer(signal.ITIMER_REAL, timeout_seconds + GRACE_SECONDS)


def disarm() -> None:
    """Cancel the timer: when the command ends, and before ``exec`` (a timer survives execve)."""
    if _in_main_thread():
        signal.setitimer(signal.ITIMER_REAL, 0)
        if _replaced_alarm:
            signal.signal(signal.SIGALRM, _replaced_alarm.pop())


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def catch_sigterm() -> Any:
    """Make SIGTERM raise ``Terminated``; returns the previous handler (for ``restore_sigterm``).

    A SIGTERM ignored on entry stays ignored, as CPython leaves an ignored SIGINT alone at start-up
    (it installs its ``KeyboardInterrupt`` handler only over ``SIG_DFL``): whoever started this
    process asked it to be immune to SIGTERM, and ``exec``'s command inherits that ``SIG_IGN``
    through ``execve`` (POSIX.1-2017, *exec*), on the full path as on the fast one, where nothing
    touches it. Nothing was replaced then, so ``restore_sigterm`` has nothing to put back.
    """
    if not _in_main_thread() or signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        return None
    return signal.signal(signal.SIGTERM, _terminate)


def restore_sigterm(previous: Any) -> None:
    """Put back the handler ``catch_sigterm`` replaced (an in-process caller's own)."""
    if previous is not None and _in_main_thread():
        signal.signal(signal.SIGTERM, previous)
