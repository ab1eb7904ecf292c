"""The command line's one funnel: argv -> the command's module; every exception -> an exit status.

httpie's ``main(args, env) -> ExitStatus``: ``main`` installs the stderr handler, catches SIGTERM,
arms the hard deadline when a command resolves its settings, picks the command from a table and
maps whatever it raises to one stderr line and a documented exit code (README, "Exit codes and
errors"). stdout carries only what the command prints on success.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO, cast

from ..clock import Clock, SystemClock
from ..errors import ConfigError, CredProcError, ExitStatus, OutputClosedError, Terminated
from . import watchdog
from .context import Command, CommandContext, ReplaceProcess, Resolved, SettingsResolver
from .parser import build_parser, parser_for
from .standard_streams import ClosedStream, discard_stdout

if TYPE_CHECKING:
    from .stderr_log import StderrHandler

#: The module and function of each command (``cache`` actions as ``cache ACTION``). Imported on
#: use: ``--version`` loads none of boto3, requests or cryptography, and a command what it uses.
COMMANDS: Mapping[str, tuple[str, str]] = {
    "get": ("get_command", "run"),
    "exec": ("exec_command", "run"),
    "serve": ("serve_command", "run"),
    "agent": ("agent_command", "run"),
    "cert": ("cert", "run"),
    "doctor": ("doctor", "run"),
    "logout": ("cache_commands", "logout"),
    "cache": ("cache_commands", "ask_for_action"),
    "cache list": ("cache_commands", "list_entries"),
    "cache clear": ("cache_commands", "clear"),
    "demo": ("demo", "run"),
    "emulator": ("emulator", "run"),
}


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    clock: Clock | None = None,
    replace_process: ReplaceProcess | None = None,
) -> int:
    """Run one command; returns its exit status. Every argument defaults to the real process's.

    The status is an ``ExitStatus``, or the code of a ``SystemExit`` raised inside the command
    (``--help``; a test's ``replace_process``, which runs ``exec``'s command as a child and ends
    with its status). ``replace_process`` is what ``exec`` becomes the command with (``os.execve``).
    """
    from ..config.sources import resolve_log_format
    from .stderr_log import stderr_events

    whole_command_line = list(sys.argv[1:] if argv is None else argv)
    args_list = list(whole_command_line)
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
        verbose = "-v" in args_list or "--verbose" in args_list
        previous_sigterm = watchdog.catch_sigterm()
        try:
            args = _parse(args_list, whole_command_line)
            log.json_format = resolve_log_format(vars(args), env) == "json"
            context = CommandContext(
                environ=env,
                stdout=out,
                stderr=err,
                clock=clock or SystemClock(),
                replace_process=replace_process or os.execve,
                log=log,
                settings_resolver=_settings_resolver(log),
                argv=tuple(args_list),
                exec_command=tuple(exec_command),
            )
            return _dispatch(args, context)
        except SystemExit as done:  # --help and --version; exec's command run as a child
            return done.code if isinstance(done.code, int) else ExitStatus.OK
        except BaseException as error:  # noqa: BLE001 - the funnel: every failure ends here
            return _report(error, log, out, err, verbose=verbose)
        finally:
            watchdog.disarm()
            watchdog.restore_sigterm(previous_sigterm)


def _parse(args_list: list[str], whole_command_line: list[str]) -> argparse.Namespace:
    parser = parser_for(args_list)
    try:
        return parser.parse_args(args_list)
    except ConfigError as error:
        from .usage_hints import explain_usage_error  # difflib: only for a mistyped command line

        # from None: argparse quotes the unrecognised arguments, which may be a pasted secret.
        raise explain_usage_error(error, parser, whole_command_line) from None


def _settings_resolver(log: StderrHandler) -> SettingsResolver:
    """Every command's settings resolution: the log format the settings name applies from then
    on (a profile's ``log_format`` included), and the deadline and its watchdog start together."""

    def resolve(
        flags: Mapping[str, Any],
        environ: Mapping[str, str],
        clock: Clock,
        *,
        needs: frozenset[str] | None,
    ) -> Resolved:
        from ..config.settings import resolve_settings
        from ..deadline import Deadline

        settings = (
            resolve_settings(flags, environ)
            if needs is None
            else resolve_settings(flags, environ, needs=needs)
        )
        log.json_format = settings.log_format == "json"
        # The last line of defence for the deadline, armed here only: whatever blocks ends here.
        watchdog.arm(settings.timeout_seconds)
        return Resolved(settings, Deadline(settings.timeout_seconds, clock))

    return resolve


def _dispatch(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    action = getattr(args, "cache_command", None)
    name = f"{args.command} {action}" if args.command == "cache" and action else args.command
    if name not in COMMANDS:  # no command at all
        build_parser().print_help(context.stderr)
        return ExitStatus.USAGE
    module_name, function_name = COMMANDS[name]
    module = importlib.import_module(f"{__package__}.{module_name}")
    command: Command = getattr(module, function_name)
    return command(args, context)


def _report(
    error: BaseException, log: StderrHandler, out: TextIO, err: TextIO, *, verbose: bool
) -> ExitStatus:
    """One stderr line and the exit status for ``error``; never a traceback without ``-v``."""
    if isinstance(error, CredProcError):
        if isinstance(error, OutputClosedError) and out is sys.stdout:
            discard_stdout()
        log.error(str(error), exit_code=int(error.exit_status), error=type(error).__name__)
        return error.exit_status
    if isinstance(error, BrokenPipeError):  # stdout's reader went away while a command printed
        if out is sys.stdout:
            discard_stdout()
        log.error("stdout's reader has gone (broken pipe). Run the command again", exit_code=5)
        return ExitStatus.TRANSIENT
    if isinstance(error, KeyboardInterrupt):
        log.error("interrupted", exit_code=int(ExitStatus.INTERRUPTED))
        return ExitStatus.INTERRUPTED
    if isinstance(error, Terminated):
        log.error("terminated by SIGTERM", exit_code=int(ExitStatus.TERMINATED))
        return ExitStatus.TERMINATED
    if not isinstance(error, Exception):  # GeneratorExit and the like: not ours to swallow
        raise error
    if verbose:
        import traceback

        traceback.print_exception(type(error), error, error.__traceback__, file=err)
    log.error(
        f"internal error ({type(error).__name__}); this is a bug. "
        "Run again with --verbose for the traceback and report it",
        exit_code=int(ExitStatus.INTERNAL),
    )
    return ExitStatus.INTERNAL
