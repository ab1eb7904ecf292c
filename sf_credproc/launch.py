"""The ``sf-credproc`` entry point: the cache-hit fast path first (``get``, and ``exec``, which
becomes its command there), the full command otherwise; a finished full command ends the process
at once (``end_process``)."""

# No ``from __future__ import annotations``: a cache hit would pay for importing it.
import gc
import os
import sys

#: Commands that end when their one piece of work is done (``exec`` becomes its command). The
#: others (``serve``, ``agent``, ``exec --server``, ``demo``, ``emulator``, and any new one) run
#: for as long as they are needed and keep the cyclic garbage collector.
ONE_SHOT_COMMANDS = frozenset({"get", "exec", "logout", "cert", "doctor", "cache"})

# Typing-only imports (quoted where used): a cache hit would pay for importing typing.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import TextIO


def main() -> int:
    if is_one_shot(sys.argv[1:]):
        gc.disable()
    try:
        from .fast_path import exec_fast, main_fast

        # No stdout at all (started with ">&-"): the full command says so, with exit 5.
        if sys.stdout is not None and main_fast(sys.argv[1:], os.environ, sys.stdout.buffer):
            return 0
        # exec on a cache hit becomes its command here; it returns only for the full command.
        exec_fast(sys.argv[1:], os.environ)
    except OSError:
        pass  # e.g. a broken pipe: the full command reports it properly
    except KeyboardInterrupt:
        return _interrupted(sys.argv[1:])
    try:
        from .cli.main import main as full_main

        status = int(full_main())  # handles Ctrl-C itself once its imports are done
    except KeyboardInterrupt:
        return _interrupted(sys.argv[1:])
    return end_process(status)


def is_one_shot(argv: "list[str]") -> bool:
    """True when the command ends as soon as its work is done: it runs with the cyclic garbage
    collector off.

    Such a process frees nothing it would not free by ending (``end_process``), yet with the
    collector on, importing botocore, cryptography and requests and building their objects sets
    off some 70 collections, 12 ms and more of a cold ``get`` (README, "Cold start, measured").
    Reference counting still frees every object that is not part of a cycle. ``exec --server``
    stays with its command, so it keeps the collector; parsing may still refuse the command line.
    """
    if not argv or argv[0] not in ONE_SHOT_COMMANDS:
        return False
    own = argv[: argv.index("--")] if "--" in argv else argv
    return not (argv[0] == "exec" and "--server" in own)


def end_process(
    status: int,
    exit_now: "Callable[[int], object]" = os._exit,
    streams: "Iterable[TextIO | None] | None" = None,
) -> int:
    """End a finished command with ``status`` now, skipping the interpreter's teardown.

    A process that has written its answer has nothing left to free: the operating system takes
    its memory back whole. Python's normal exit would first tear down every module and object
    botocore, cryptography and requests built and run a last full garbage collection: about a
    fifth of a cold ``get`` (README, "Cold start, measured"), the same idea as Instagram's
    ``os._exit`` at exit. What a normal exit does that matters here is done first: stdout and
    stderr are flushed and ``logging`` shut down (its ``atexit`` handler, the only one the
    commands' libraries register). Only when that is all there is: if a flush fails, or a thread
    that is not a daemon is still running (a normal exit would wait for it), this returns
    ``status`` and the interpreter exits the usual way, reporting what it always reported.
    ``exit_now`` and ``streams`` (stdout and stderr) are seams for tests.
    """
    for stream in (sys.stdout, sys.stderr) if streams is None else streams:
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # ValueError: a closed stream
            return status
    threading = sys.modules.get("threading")
    if threading is not None and any(
        thread.is_alive() and not thread.daemon and thread is not threading.main_thread()
        for thread in threading.enumerate()
    ):
        return status
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.shutdown()
    exit_now(status)
    return status  # only a test's exit_now returns


def _interrupted(argv: list[str]) -> int:
    """Ctrl-C before the full command took over: its one line and exit 130, never a traceback."""
    from .cli.stderr_log import StderrHandler
    from .errors import ExitStatus

    value = os.environ.get("SF_CREDPROC_LOG_FORMAT", "text")
    for index, arg in enumerate(argv):
        if arg == "--log-format" and index + 1 < len(argv):
            value = argv[index + 1]
        elif arg.startswith("--log-format="):
            value = arg.partition("=")[2]
    # Whatever the fast path had not yet written must not reach the reader after this line.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass
    status = ExitStatus.INTERRUPTED
    StderrHandler(sys.stderr, json_format=value == "json").error(
        "interrupted", exit_code=int(status)
    )
    return int(status)
