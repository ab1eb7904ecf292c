"""Become ``exec``'s command with the signal dispositions a shell would give it.

CPython sets SIGPIPE and SIGXFSZ (and SIGXFZ, where it exists) to ``SIG_IGN`` when it starts, so
that a write to a closed pipe or past the file size limit raises an exception instead of killing
the interpreter. An ignored disposition survives ``execve`` (POSIX.1-2017, *exec*: "signals set to
be ignored (SIG_IGN) by the calling process image shall be set to be ignored by the new process
image"; ``execve(2)``), so a command started by ``os.execve`` from Python would ignore SIGPIPE too:
``yes | head -1`` would end with ``yes`` writing to a closed pipe ("Broken pipe", exit 1) instead
of dying of SIGPIPE (141). ``subprocess`` puts them back in its child (the ``subprocess.Popen``
reference, ``restore_signals``, true by default: "all signals that Python has set to SIG_IGN are
restored to SIG_DFL in the child process before the exec. Currently this includes the SIGPIPE,
SIGXFZ and SIGXFSZ signals"). This does the same for both paths of ``exec``
(``fast_path.exec_fast``, ``cli/exec_command.py``) and nothing more: a signal the caller ignored
(SIGHUP under ``nohup``) stays ignored, as a shell and ``subprocess`` leave it; handlers (SIGINT,
SIGTERM) are reset to the default by ``execve`` itself.

Imported by the cache-hit fast path, so it imports the built-in ``_signal`` module (what ``signal``
wraps, with the same functions and constants as plain integers): ``signal`` itself imports
``enum``, milliseconds that a cache hit would pay.
"""

# No ``from __future__ import annotations`` here, as in ``fast_path.py``: names for type checkers
# only are quoted.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
    from collections.abc import Callable
    from typing import NoReturn
else:
    try:
        import _signal
    except ImportError:  # an interpreter without CPython's built-in module
        import signal as _signal

#: What CPython ignores at start-up and ``subprocess`` restores (the names absent here are skipped).
PYTHON_IGNORED = tuple(
    getattr(_signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(_signal, name)
)


def exec_with_shell_signals(
    execute: "Callable[[str, list[str], dict[str, str]], NoReturn]",
    program: str,
    argv: "list[str]",
    environment: "dict[str, str]",
) -> "NoReturn":
    """``execute(program, argv, environment)`` (``os.execve``, ``os.execvpe``) with SIGPIPE and
    SIGXFSZ at their default dispositions, as ``subprocess`` does.

    When ``execute`` raises instead (no such file, not executable), the dispositions are put back
    before the error goes on: this process carries on to report it, and its own writes to a closed
    pipe must raise ``BrokenPipeError``, never end it silently with SIGPIPE.
    """
    replaced = []
    try:
        for signum in PYTHON_IGNORED:
            replaced.append((signum, _signal.signal(signum, _signal.SIG_DFL)))
    except ValueError:
        pass  # not the main thread, where Python can change no disposition: as it stands
    try:
        execute(program, argv, environment)
    finally:
        for signum, previous in replaced:
            if previous is not None:  # None: set outside Python, which cannot be put back
                _signal.signal(signum, previous)
