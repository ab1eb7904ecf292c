"""The options of ``get``: each one's flag, environment variable, profile key and default.

One table, read by the argument parser (``cli.py``), the resolution of settings (``settings.py``),
the config file's key check and ``--help``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    """One setting of ``get``: its flag, environment variable, profile key and default."""

    name: str
    flag: str
    env: str
    help: str
    default: str | None = None
    required: bool = False
    metavar: str = "VALUE"

    @property
    def env_help(self) -> str:
        default = f"; default: {self.default}" if self.default else ""
        return f"{self.help} [env {self.env}{default}]"


GET_OPTIONS: tuple[Option, ...] = (
    Option(
        "client_id",
        "--client-id",
        "SF_CREDPROC_CLIENT_ID",
        "consumer key of the connected app or External Client App (JWT iss)",
        required=True,
        metavar="KEY",
    ),
    Option(
        "username",
        "--username",
        "SF_CREDPROC_USERNAME",
        "Salesforce username (JWT sub)",
        required=True,
        metavar="USER",
    ),
    Option(
        "login_url",
        "--login-url",
        "SF_CREDPROC_LOGIN_URL",
        "host whose /services/oauth2/token is called",
        "https://login.salesforce.com",
        metavar="URL",
    ),
    Option(
        "audience",
        "--audience",
        "SF_CREDPROC_AUDIENCE",
        "JWT aud",
        "derived from --login-url",
        metavar="URL",
    ),
    Option(
        "key",
        "--key",
        "SF_CREDPROC_KEY",
        "key source: kms:, secretsmanager:, ssm:, file: or env:",
        required=True,
        metavar="URI",
    ),
    Option(
        "region",
        "--region",
        "SF_CREDPROC_REGION",
        "AWS region",
        "boto3's own resolution",
        metavar="REGION",
    ),
    Option(
        "aws_profile",
        "--aws-profile",
        "SF_CREDPROC_AWS_PROFILE",
        "AWS named profile",
        "boto3's own resolution",
        metavar="NAME",
    ),
    Option(
        "session_ttl",
        "--session-ttl",
        "SF_CREDPROC_SESSION_TTL",
        "seconds the Salesforce session lives (the org/app session timeout)",
        "7200",
        metavar="SECONDS",
    ),
    Option(
        "timeout",
        "--timeout",
        "SF_CREDPROC_TIMEOUT",
        "overall deadline in seconds for the whole command",
        "30",
        metavar="SECONDS",
    ),
    Option(
        "cache_dir",
        "--cache-dir",
        "SF_CREDPROC_CACHE_DIR",
        "token cache directory",
        "$XDG_CACHE_HOME/sf-credproc",
        metavar="DIR",
    ),
    Option(
        "min_ttl",
        "--min-ttl",
        "SF_CREDPROC_MIN_TTL",
        "serve a cached token only while more than this many seconds remain",
        "min(900, session TTL / 4)",
        metavar="SECONDS",
    ),
    Option(
        "shared_cache",
        "--shared-cache",
        "SF_CREDPROC_SHARED_CACHE",
        "fleet-wide token cache: dynamodb://TABLE",
        metavar="URI",
    ),
    Option(
        "shared_cache_key",
        "--shared-cache-key",
        "SF_CREDPROC_SHARED_CACHE_KEY",
        "symmetric KMS key that encrypts tokens in the shared cache",
        metavar="KEY",
    ),
    Option(
        "format",
        "--format",
        "SF_CREDPROC_FORMAT",
        "output: json, env, token, header, github or sf",
        "json",
        metavar="FORMAT",
    ),
    Option(
        "log_format",
        "--log-format",
        "SF_CREDPROC_LOG_FORMAT",
        "what stderr carries: text lines, or one JSON object per event",
        "text",
        metavar="FORMAT",
    ),
    Option(
        "trusted_hosts",
        "--trusted-host",
        "SF_CREDPROC_TRUSTED_HOSTS",
        "extra login host to trust (repeatable; env: comma-separated)",
        metavar="HOST",
    ),
)
OPTIONS_BY_NAME = {option.name: option for option in GET_OPTIONS}
PROFILE_KEYS = frozenset(OPTIONS_BY_NAME)
