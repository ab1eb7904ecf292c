"""The argument parser of every command, with usage errors as one line and exit code 2."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from .. import __version__
from ..config.options import GET_OPTIONS
from ..config.settings import PROFILE_ENV
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
