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

from .. import __version__
from ..clock import Clock, SystemClock
from ..config.options import GET_OPTIONS
from ..config.settings import PROFILE_ENV
from ..errors import ConfigError, CredProcError, ExitStatus, OutputClosedError, Terminated
from . import watchdog
from .standard_streams import ClosedStream, discard_stdout, write_output

if TYPE_CHECKING:
    from ..config.settings import Settings
    from ..service import Outcome
    from .stderr_log import StderrHandler

#: ``os.execve``'s shape: become ``program`` with ``argv`` and exactly ``env``; never returns.
ReplaceProcess = Callable[[str, list[str], dict[str, str]], NoReturn]

EXIT_CODES_HELP = """exit codes:
  0  success: the credential is on stdout
  1  internal error (a bug; --verbose shows the traceback)
  2  usage or configuration error
  3  key source error (AWS KMS, Secrets Manager, SSM, PEM)
  4  Salesforce refused the assertion (fix the configuration, then retry)
  5  transient failure (network, timeout, 5xx, throttling, login rate): retry later
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2, like every other error.

    Abbreviated options are off: ``--ref`` must not silently mean ``--refresh``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message, hint=f"Run '{self.prog} --help' for the options")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sf-credproc",
        description="Salesforce access tokens via the OAuth 2.0 JWT bearer flow, signed with a key "
        "held in AWS KMS, Secrets Manager or SSM, printed as an expiring credential.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sf-credproc {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    get = commands.add_parser(
        "get",
        help="print a credential (JSON) for the configured Salesforce user",
        description="Sign a JWT bearer assertion, exchange it at Salesforce, and print the "
        "credential as JSON on stdout. Settings: flag > environment variable > config profile > "
        "default.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_get_options(get)
    get.add_argument(
        "--refresh", action="store_true", help="log in even if the cache has a fresh token"
    )
    get.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")

    exec_parser = commands.add_parser(
        "exec",
        help="run a command with the credential in its environment",
        usage="sf-credproc exec [get options] -- COMMAND [ARGS...]",
        description="Obtain the credential (the cache included), then replace this process with "
        "COMMAND (no shell), its environment extended with SF_ACCESS_TOKEN, SF_INSTANCE_URL, "
        "SF_ORG_INSTANCE_URL, SFDX_ACCESS_TOKEN, SFDX_INSTANCE_URL and SF_CREDPROC_EXPIRATION. The "
        "exit status is the command's own.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_get_options(exec_parser)
    exec_parser.add_argument(
        "--refresh", action="store_true", help="log in even if the cache is fresh"
    )
    exec_parser.add_argument(
        "--no-cache", action="store_true", help="neither read nor write the cache"
    )

    logout = commands.add_parser(
        "logout",
        help="revoke the cached token at Salesforce and delete it from the cache",
        description="Revoke the cached token of the identity the get options select "
        "(/services/oauth2/revoke) and delete its cache entry. --key is not needed.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_get_options(logout)

    cert = commands.add_parser(
        "cert",
        help="make the app's certificate (or a CSR) with the signing key",
        description="Make a self-signed X.509 certificate (PEM) for the connected app or External "
        "Client App, signed by "
        "the key itself wherever it lives: a kms: key signs in KMS (needs kms:GetPublicKey and "
        "kms:Sign). The SHA-256 fingerprint goes to stderr.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_get_options(cert, only=("key", "region", "aws_profile", "timeout"))
    cert.add_argument(
        "--subject", metavar="DN", help='distinguished name [default: "CN=sf-credproc"]'
    )
    cert.add_argument("--days", type=int, default=730, metavar="N", help="validity in days [730]")
    cert.add_argument("--out", metavar="FILE", help="write the PEM here instead of stdout")
    cert.add_argument(
        "--csr", action="store_true", help="make a certificate signing request instead"
    )

    doctor = commands.add_parser(
        "doctor",
        help="check every step of the set-up and say what to fix",
        description="Check the configuration, the login URL, the key, the certificate (--cert), "
        "the clock against the token endpoint, a real token exchange, and the cache directory. "
        "Exit 0 only when every check passes. Never prints a secret.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_get_options(doctor)
    doctor.add_argument(
        "--cert",
        metavar="FILE",
        help="the certificate uploaded to the connected app or External Client App",
    )
    doctor.add_argument("--json", action="store_true", help="the report as JSON")

    cache = commands.add_parser("cache", help="list or clear cached tokens")
    cache_commands = cache.add_subparsers(
        dest="cache_command", metavar="ACTION", parser_class=_Parser
    )
    listing = cache_commands.add_parser(
        "list", help="show cached tokens (user, login URL, expiration; never the token)"
    )
    listing.add_argument(
        "--cache-dir", metavar="DIR", help="cache directory [env SF_CREDPROC_CACHE_DIR]"
    )
    listing.add_argument("--profile", metavar="NAME", help="profile whose cache_dir to use")
    listing.add_argument(
        "--min-ttl",
        metavar="SECONDS",
        help="freshness threshold for the state column [env SF_CREDPROC_MIN_TTL; "
        "default: min(900, session TTL / 4)]",
    )
    listing.add_argument(
        "--session-ttl",
        metavar="SECONDS",
        help="the session TTL get uses, for the state column [env SF_CREDPROC_SESSION_TTL; "
        "default: 7200]",
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    clear = cache_commands.add_parser(
        "clear",
        help="delete the cached token the get options select, or --all",
        description="Delete the cache entry of the identity the get options select (no "
        "revocation: see logout), or every entry with --all.",
    )
    add_get_options(clear)
    clear.add_argument(
        "--all", action="store_true", help="delete every entry in the cache directory"
    )

    commands.add_parser(
        "demo",
        help="run 'get' end to end against a local emulator with a throwaway key",
        description="Start a local Salesforce emulator, register a throwaway key with it, run the "
        "real 'get' pipeline against it and print the credential.",
    )

    emulator = commands.add_parser(
        "emulator",
        help="run a local Salesforce token endpoint emulator",
        description="Serve Salesforce's OAuth endpoints locally (token, revoke, userinfo) for "
        "offline integration tests.",
    )
    emulator.add_argument("--host", default="127.0.0.1", help="address to listen on [127.0.0.1]")
    emulator.add_argument("--port", type=int, default=0, help="port [a free one]")
    emulator.add_argument(
        "--client-id", default="sf-credproc-emulator-app", help="consumer key to accept"
    )
    emulator.add_argument(
        "--username", default="integration@emulator.example", help="user to accept"
    )
    emulator.add_argument(
        "--cert", metavar="PEM", help="the connected app's certificate [a new key]"
    )
    emulator.add_argument(
        "--tls-cert", metavar="PEM", help="serve https with this certificate chain"
    )
    emulator.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    return parser


def add_get_options(parser: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """The options of ``get`` (or those named in ``only``), with their env vars in the help."""
    for option in GET_OPTIONS:
        if only is not None and option.name not in only:
            continue
        if option.name == "trusted_hosts":
            parser.add_argument(
                option.flag,
                dest=option.name,
                action="append",
                metavar=option.metavar,
                help=option.env_help,
            )
        else:
            parser.add_argument(
                option.flag, dest=option.name, metavar=option.metavar, help=option.env_help
            )
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help=f"profile from the config file [env {PROFILE_ENV}; default: 'default' if present]",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="progress on stderr, never a secret"
    )


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
    from ..config.settings import early_log_format
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
    with stderr_events(err, json_format=early_log_format({}, env) == "json") as log:
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
    from ..config.settings import early_log_format

    verbose = "-v" in args_list or "--verbose" in args_list
    previous_sigterm = watchdog.catch_sigterm()
    try:
        args = _parse(args_list, whole_command_line)
        log.json_format = early_log_format(vars(args), env) == "json"
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
    from ..config.settings import PASSPHRASE_ENV

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
