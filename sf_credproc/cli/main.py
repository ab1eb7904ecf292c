"""The command line: argv -> settings -> the one composition root; errors -> exit codes.

This is the only module that prints. stdout carries the credential and nothing else, written once,
only on success; every failure is one line on stderr and a documented exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, cast

from ..clock import Clock, SystemClock
from ..errors import ConfigError, CredProcError, ExitStatus, OutputClosedError, Terminated
from . import watchdog
from .parser import build_parser
from .standard_streams import ClosedStream, discard_stdout, write_output

if TYPE_CHECKING:
    from ..config.settings import Settings
    from ..service import Outcome
    from .stderr_log import StderrHandler

#: ``os.execve``'s shape: become ``program`` with ``argv`` and exactly ``env``; never returns.
ReplaceProcess = Callable[[str, list[str], dict[str, str]], NoReturn]


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    clock: Clock | None = None,
    replace_process: ReplaceProcess | None = None,
) -> int:
    """Run one command; returns the exit code. Every argument defaults to the real process's.

    ``replace_process`` is what ``exec`` becomes the command with (``os.execve``); tests pass one
    that runs the command as a child instead, so ``exec`` can run inside the test process.
    """
    from ..config.sources import resolve_log_format
    from .stderr_log import stderr_events

    args_list = list(sys.argv[1:] if argv is None else argv)
    whole_command_line = list(args_list)
    env = os.environ if environ is None else environ
    # Python sets sys.stdout (sys.stderr) to None when the process starts with that descriptor
    # closed (">&-"): writing the credential then fails like a broken pipe, one line and exit 5.
    out = stdout or sys.stdout or cast(TextIO, ClosedStream())
    err = stderr or sys.stderr or cast(TextIO, ClosedStream(quiet=True))
    exec_command: list[str] = []
    if args_list[:1] == ["exec"] and "--" in args_list:
        # Everything after "--" belongs to the command, never to argparse.
        split = args_list.index("--")
        args_list, exec_command = args_list[:split], args_list[split + 1 :]
    with stderr_events(err, json_format=resolve_log_format({}, env) == "json") as log:
        return _run_command(
            args_list,
            whole_command_line,
            exec_command,
            env,
            out,
            err,
            clock,
            log,
            replace_process or os.execve,
        )


def _run_command(
    args_list: list[str],
    whole_command_line: list[str],
    exec_command: list[str],
    env: Mapping[str, str],
    out: TextIO,
    err: TextIO,
    clock: Clock | None,
    log: StderrHandler,
    replace_process: ReplaceProcess,
) -> int:
    """Parse and dispatch; every exception ends here as one stderr line and an exit status."""
    from ..config.sources import resolve_log_format

    verbose = "-v" in args_list or "--verbose" in args_list
    previous_sigterm = watchdog.catch_sigterm()
    try:
        args = _parse(args_list, whole_command_line)
        log.json_format = resolve_log_format(vars(args), env) == "json"
        return _dispatch(
            args, args_list, exec_command, env, out, err, clock or SystemClock(), replace_process
        )
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else ExitStatus.OK
    except CredProcError as error:
        if isinstance(error, OutputClosedError) and out is sys.stdout:
            discard_stdout()
        log.error(str(error), exit_code=int(error.exit_status), error=type(error).__name__)
        return error.exit_status
    except BrokenPipeError:  # stdout's reader went away while another command was printing
        if out is sys.stdout:
            discard_stdout()
        log.error("stdout's reader has gone (broken pipe). Run the command again", exit_code=5)
        return ExitStatus.TRANSIENT
    except KeyboardInterrupt:
        log.error("interrupted", exit_code=int(ExitStatus.INTERRUPTED))
        return ExitStatus.INTERRUPTED
    except Terminated:
        log.error("terminated by SIGTERM", exit_code=int(ExitStatus.TERMINATED))
        return ExitStatus.TERMINATED
    except Exception as error:  # noqa: BLE001 - the last line of defence: one line, exit 1
        if verbose:
            import traceback

            traceback.print_exc(file=err)
        log.error(
            f"internal error ({type(error).__name__}); this is a bug. "
            "Run again with --verbose for the traceback and report it",
            exit_code=int(ExitStatus.INTERNAL),
        )
        return ExitStatus.INTERNAL
    finally:
        watchdog.disarm()
        watchdog.restore_sigterm(previous_sigterm)


def _parse(args_list: list[str], whole_command_line: list[str]) -> argparse.Namespace:
    from .usage_hints import explain_usage_error

    parser = build_parser()
    try:
        return parser.parse_args(args_list)
    except ConfigError as error:
        raise explain_usage_error(error, parser, whole_command_line) from None


def _dispatch(
    args: argparse.Namespace,
    args_list: list[str],
    exec_command: list[str],
    env: Mapping[str, str],
    out: TextIO,
    err: TextIO,
    clock: Clock,
    replace_process: ReplaceProcess,
) -> int:
    flags = vars(args)
    if args.command == "get":
        return _run_get(args_list, flags, env, out, err, clock)
    if args.command == "exec":
        return _run_exec(exec_command, flags, env, err, clock, replace_process)
    if args.command == "cert":
        from .cert import run_cert

        return run_cert(flags, env, out, err, clock)
    if args.command == "doctor":
        from .doctor import run_doctor

        return run_doctor(flags, env, out, clock)
    if args.command in ("logout", "cache"):
        from .cache_commands import run_cache_command

        return run_cache_command(flags, env, out, err, clock)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(out, err)
    if args.command == "emulator":
        from .emulator import run_emulator

        return run_emulator(args, out, err)
    build_parser().print_help(err)
    return ExitStatus.USAGE


def _credential(
    flags: dict[str, Any], environ: Mapping[str, str], err: TextIO, clock: Clock
) -> tuple[Settings, Outcome]:
    """Resolve the settings and obtain the credential (the cache included)."""
    from .. import log
    from ..config.settings import resolve_settings
    from ..service import obtain_credential
    from .stderr_log import show_progress

    settings = resolve_settings(flags, environ)
    show_progress(settings.verbose)
    log.info(
        "settings",
        f"profile {settings.profile or '(none)'} from {settings.config_path}; "
        f"login URL {settings.login_url.base}; audience {settings.audience}",
        profile=settings.profile,
        login_url=settings.login_url.base,
        audience=settings.audience,
    )
    # The last line of defence for the deadline: whatever blocks, it ends here.
    watchdog.arm(settings.timeout_seconds)
    outcome = obtain_credential(settings, clock=clock, environ=environ)
    watchdog.disarm()
    return settings, outcome


def _run_get(
    argv: list[str],
    flags: dict[str, Any],
    environ: Mapping[str, str],
    out: TextIO,
    err: TextIO,
    clock: Clock,
) -> int:
    from ..formats import PURE_FORMATS, github_env_lines, render

    settings, outcome = _credential(flags, environ, err, clock)
    text = render(outcome.credential_json, settings.output_format)
    if settings.output_format == "github":
        _append_github_env(settings.github_env, github_env_lines(outcome.credential_json))
    # One write, after everything succeeded: a consumer never sees half a credential.
    write_output(out, text, cached=outcome.entry_path is not None)
    plain = not (settings.refresh or settings.verbose)
    if outcome.entry_path and plain and settings.output_format in PURE_FORMATS:
        from .fast_path import record_invocation

        # The next identical invocation can then be answered without resolving anything.
        record_invocation(
            argv,
            environ,
            entry_path=outcome.entry_path,
            entry_header=outcome.entry_header,
            min_ttl_seconds=settings.min_ttl_seconds,
            session_ttl_seconds=settings.session_ttl_seconds,
            output=text.encode("utf-8"),
        )
    return ExitStatus.OK


def _append_github_env(path: str | None, lines: str) -> None:
    """Append to GitHub Actions' environment file, which later steps of the job read."""
    if not path:
        raise ConfigError(
            "--format github needs $GITHUB_ENV, which is not set",
            hint="Use it inside a GitHub Actions step, or choose --format env",
        )
    try:
        # O_NONBLOCK: a FIFO at that path with no reader fails at once instead of waiting forever.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC
        with open(os.open(path, flags, 0o644), "a", encoding="utf-8") as handle:
            handle.write(lines)
    except OSError as error:
        raise ConfigError(
            f"cannot append to $GITHUB_ENV {path} ({error.strerror})",
            hint="Run inside a GitHub Actions step",
        ) from None


def scrubbed_environment(environ: Mapping[str, str], settings: Settings) -> dict[str, str]:
    """``environ`` without the secrets that unlocked the key: the command gets the token it
    needs, never the passphrase or the PEM of an ``env:`` key source."""
    from ..config.options import PASSPHRASE_ENV

    secret_names = {PASSPHRASE_ENV}
    if settings.key is not None and settings.key.scheme == "env":
        secret_names.add(settings.key.target)
    return {name: value for name, value in environ.items() if name not in secret_names}


def _run_exec(
    command: list[str],
    flags: dict[str, Any],
    environ: Mapping[str, str],
    err: TextIO,
    clock: Clock,
    replace_process: ReplaceProcess,
) -> int:
    """Obtain the credential, then become ``command`` with the variables of ``--format env``."""
    import json
    import shutil

    from ..formats import environment_variables

    if not command:
        raise ConfigError(
            "exec needs a command", hint="Use: sf-credproc exec [options] -- COMMAND [ARGS...]"
        )
    # Look the command up first: a typo must not cost a login.
    path = environ.get("PATH", os.defpath)
    program = shutil.which(command[0], path=path)
    if program is None:
        raise ConfigError(
            f"exec: command {command[0]!r} not found",
            hint="Check the name, or give its full path",
        )
    settings, outcome = _credential(flags, environ, err, clock)
    variables = environment_variables(json.loads(outcome.credential_json))
    child_environment = {**scrubbed_environment(environ, settings), **variables}
    err.flush()
    watchdog.disarm()  # an interval timer would survive execve and kill the command
    try:
        replace_process(program, command, child_environment)  # no shell, on purpose
    except OSError as error:
        raise ConfigError(
            f"exec: cannot run {command[0]!r} ({error.strerror})",
            hint="Check that it is an executable file",
        ) from None
    return ExitStatus.INTERNAL  # not reached: execve replaced this process
