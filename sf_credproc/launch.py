"""The ``sf-credproc`` entry point: the cache-hit fast path first (``get``, and ``exec``, which
becomes its command there), the full command otherwise."""

# No ``from __future__ import annotations``: a cache hit would pay for importing it.
import os
import sys


def main() -> int:
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

        return int(full_main())  # handles Ctrl-C itself once its imports are done
    except KeyboardInterrupt:
        return _interrupted(sys.argv[1:])


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
