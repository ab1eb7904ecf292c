"""The argument parser of every command, with usage errors as one line and exit code 2."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NamedTuple, NoReturn

from .. import __version__
from ..config.commands import COMMAND_OPTIONS
from ..config.option import Kind, Option
from ..errors import ConfigError

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


class Subcommand(NamedTuple):
    """A command's entry in ``sf-credproc --help`` and its own ``--help`` page (a named tuple:
    a constant table's row, cheaper to define than a dataclass on every start)."""

    help: str
    description: str | None = None
    usage: str | None = None
    #: The exit codes below the options: for the commands that resolve settings.
    exit_codes: bool = True


#: Every command, in ``--help`` order; ``cache`` holds its actions (``COMMAND_OPTIONS`` names
#: their options as ``"cache list"``).
SUBCOMMANDS: dict[str, Subcommand] = {
    "get": Subcommand(
        "print a credential (JSON) for the configured Salesforce user",
        "Sign a JWT bearer assertion, exchange it at Salesforce, and print the credential as JSON "
        "on stdout. Settings: flag > environment variable > config profile > default.",
    ),
    "exec": Subcommand(
        "run a command with the credential in its environment",
        "Obtain the credential (the cache included), then replace this process with COMMAND (no "
        "shell), its environment extended with SF_ACCESS_TOKEN, SF_INSTANCE_URL, SF_TARGET_ORG, "
        "SF_ORG_INSTANCE_URL, SFDX_ACCESS_TOKEN, SFDX_INSTANCE_URL and SF_CREDPROC_EXPIRATION "
        "(SF_TARGET_ORG, the token when it is a session id, with SF_ORG_INSTANCE_URL lets the "
        "Salesforce CLI use the org without logging in); with --cumulusci-org NAME, also "
        "CUMULUSCI_ORG_<NAME> and CUMULUSCI_DISABLE_REFRESH. The exit status is the command's own.",
        usage="sf-credproc exec [get options] -- COMMAND [ARGS...]",
    ),
    "serve": Subcommand(
        "serve the credential to local programs over HTTP, refreshed ahead of expiry",
        "Listen on loopback (or a Unix socket) and answer GET /credential with the credential, "
        "kept fresh in the background: one login per session for any number of processes. "
        "Clients send the server token as the Authorization header. The address is printed on "
        "stdout when listening. SIGTERM drains and exits 0; SIGHUP re-reads the config file.",
    ),
    "agent": Subcommand(
        "keep credential files fresh for other containers or programs",
        "Write the credential to each --sink (atomically, never half-written) and rewrite it "
        "ahead of expiry until SIGTERM; --once writes and exits.",
    ),
    "logout": Subcommand(
        "revoke the cached token at Salesforce and delete it from the cache",
        "Revoke the cached token of the identity the get options select "
        "(/services/oauth2/revoke) and delete its cache entry. --key is not needed.",
    ),
    "cert": Subcommand(
        "make the app's certificate (or a CSR) with the signing key",
        "Make a self-signed X.509 certificate (PEM) for the connected app or External Client "
        "App, signed by the key itself wherever it lives: a kms: key signs in KMS (needs "
        "kms:GetPublicKey and kms:Sign). The SHA-256 fingerprint goes to stderr.",
    ),
    "doctor": Subcommand(
        "check every step of the set-up and say what to fix",
        "Check the configuration, the login URL, the key, the certificate (--cert), the clock "
        "against the token endpoint, a real token exchange, and the cache directory. Exit 0 only "
        "when every check passes. Never prints a secret.",
    ),
    "cache": Subcommand("list or clear cached tokens", exit_codes=False),
    "demo": Subcommand(
        "run 'get' end to end against a local emulator with a throwaway key",
        "Start a local Salesforce emulator, register a throwaway key with it, run the real 'get' "
        "pipeline against it and print the credential.",
        exit_codes=False,
    ),
    "emulator": Subcommand(
        "run a local Salesforce token endpoint emulator",
        "Serve Salesforce's OAuth endpoints locally (token, revoke, userinfo) for offline "
        "integration tests.",
        exit_codes=False,
    ),
}

CACHE_ACTIONS: dict[str, Subcommand] = {
    "list": Subcommand(
        "show cached tokens (user, login URL, expiration; never the token)", exit_codes=False
    ),
    "clear": Subcommand(
        "delete the cached token the get options select, or --all",
        "Delete the cache entry of the identity the get options select (no revocation: see "
        "logout), or every entry with --all.",
        exit_codes=False,
    ),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of the whole command line, or of ``command`` alone.

    Given the command the command line names, only its own subparser is built: a run then pays
    for its own options, not for the ~250 of every command (argparse builds a help formatter and
    looks up translations for each; README, "Cold start, measured"). ``--help`` and a command
    line naming no known command get the whole parser.
    """
    parser = _Parser(
        prog="sf-credproc",
        description="Salesforce access tokens via the OAuth 2.0 JWT bearer flow, signed with a key "
        "held in AWS KMS, Secrets Manager or SSM, printed as an expiring credential.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sf-credproc {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, subcommand in SUBCOMMANDS.items():
        if command is not None and name != command:
            continue
        sub = _add_subcommand(commands, name, subcommand)
        if name == "cache":
            actions = sub.add_subparsers(
                dest="cache_command", metavar="ACTION", parser_class=_Parser
            )
            for action, spec in CACHE_ACTIONS.items():
                add_options(_add_subcommand(actions, action, spec), f"cache {action}")
        else:
            add_options(sub, name)
    return parser


def parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser ``argv`` needs: its command's alone when it starts with a command's name."""
    first = argv[0] if argv else None
    return build_parser(first if first in SUBCOMMANDS else None)


def _add_subcommand(
    subparsers: argparse._SubParsersAction[_Parser], name: str, subcommand: Subcommand
) -> _Parser:
    extra: dict[str, Any] = {}
    if subcommand.usage is not None:
        extra["usage"] = subcommand.usage
    if subcommand.exit_codes:
        extra["epilog"] = EXIT_CODES_HELP
        extra["formatter_class"] = argparse.RawDescriptionHelpFormatter
    parser = subparsers.add_parser(
        name, help=subcommand.help, description=subcommand.description, **extra
    )
    return parser


def add_options(parser: argparse.ArgumentParser, command: str) -> None:
    """The options of ``command`` (``"cache list"`` for an action), from the option spec.

    Settings arrive as text (``None`` when absent): the resolver checks them, so that a wrong value
    is reported the same way whether it came from a flag, a variable or a profile.
    """
    for option in COMMAND_OPTIONS[command]:
        _add_option(parser, option)


def _add_option(parser: argparse.ArgumentParser, option: Option) -> None:
    names = [name for name in (option.short, option.flag) if name]
    if option.kind is Kind.SWITCH:
        parser.add_argument(*names, dest=option.name, action="store_true", help=option.env_help)
    elif option.repeatable:
        parser.add_argument(
            *names, dest=option.name, action="append", metavar=option.metavar, help=option.env_help
        )
    elif option.kind is Kind.INTEGER:
        parser.add_argument(
            *names,
            dest=option.name,
            type=int,
            default=option.default,
            metavar=option.metavar,
            help=option.env_help,
        )
    elif option.env is None and option.default is not None:
        # A command's own text flag with a default (the emulator's): no resolver behind it.
        parser.add_argument(
            *names,
            dest=option.name,
            default=option.default,
            metavar=option.metavar,
            help=option.env_help,
        )
    else:
        parser.add_argument(*names, dest=option.name, metavar=option.metavar, help=option.env_help)
