"""The option spec: every setting, with its flag, variable, profile key, type, default and range.

Each default, range and choice list is written here once. Generated from this table: the argument
parser of every command (``cli/parser.py``, with ``commands.py``), the config file's key check, the
``--help`` text, the Python API's keyword arguments (``keywords.py``), the fast path's key
(``fast_path_environment``) and the README's settings table (``settings_table.py``, checked by a
test).
"""

from __future__ import annotations

from ..paths import CONFIG_ENV
from .option import Kind, Option
from .signer_options import PKCS11_PIN_ENV as PKCS11_PIN_ENV
from .signer_options import SIGNER_ENVIRONMENT, SIGNER_SETTINGS
from .signer_options import VAULT_ADDR_ENV as VAULT_ADDR_ENV
from .signer_options import VAULT_CACERT_ENV as VAULT_CACERT_ENV
from .signer_options import VAULT_CAPATH_ENV as VAULT_CAPATH_ENV
from .signer_options import VAULT_NAMESPACE_ENV as VAULT_NAMESPACE_ENV
from .signer_options import VAULT_SECRET_ID_ENV as VAULT_SECRET_ID_ENV
from .signer_options import VAULT_TOKEN_ENV as VAULT_TOKEN_ENV

PROFILE_ENV = "SF_CREDPROC_PROFILE"
PASSPHRASE_ENV = "SF_CREDPROC_KEY_PASSPHRASE"
DEFAULT_PROFILE = "default"
#: Salesforce session timeouts range from 15 minutes to 24 hours; a shorter TTL is always safe.
MAX_SESSION_TTL_SECONDS = 24 * 3600
#: botocore's advisory refresh window (15 minutes): the minimum TTL's ceiling when none is set.
DEFAULT_MIN_TTL_CEILING_SECONDS = 900


#: botocore's mandatory refresh window is 10 minutes; 5 leaves a failed refresh time to recover.
DEFAULT_MANDATORY_TTL_CEILING_SECONDS = 300
#: After "login rate exceeded", no login for this user for this long (the limit is per hour).
DEFAULT_RATE_LIMIT_COOLDOWN_SECONDS = 600


def default_min_ttl(session_ttl_seconds: int) -> int:
    """The minimum TTL when none is set: ``min(900, session_ttl / 4)`` whole seconds.

    With 900 alone, a 15-minute session (Salesforce's shortest timeout) would never be served from
    the cache.
    """
    return min(DEFAULT_MIN_TTL_CEILING_SECONDS, session_ttl_seconds // 4)


def default_mandatory_ttl(session_ttl_seconds: int) -> int:
    """The mandatory refresh window when none is set: ``min(300, session_ttl / 12)`` whole seconds
    (a third of the advisory window's default, as botocore's 10 minutes are of its 15)."""
    return min(DEFAULT_MANDATORY_TTL_CEILING_SECONDS, session_ttl_seconds // 12)


#: The settings of ``get`` (``exec``, ``logout``, ``doctor`` and ``cache clear`` take them all).
GET_OPTIONS: tuple[Option, ...] = (
    Option(
        "client_id",
        "--client-id",
        "consumer key of the connected app or External Client App (JWT iss)",
        "KEY",
        "SF_CREDPROC_CLIENT_ID",
        in_profile=True,
        required=True,
        decides_output=True,
        doc="consumer key of the connected app or External Client App (JWT `iss`)",
    ),
    Option(
        "username",
        "--username",
        "Salesforce username (JWT sub)",
        "USER",
        "SF_CREDPROC_USERNAME",
        in_profile=True,
        required=True,
        decides_output=True,
        doc="Salesforce username (JWT `sub`)",
    ),
    Option(
        "login_url",
        "--login-url",
        "host whose /services/oauth2/token is called",
        "URL",
        "SF_CREDPROC_LOGIN_URL",
        in_profile=True,
        default="https://login.salesforce.com",
        decides_output=True,
        doc="host whose `/services/oauth2/token` is called",
    ),
    Option(
        "audience",
        "--audience",
        "JWT aud",
        "URL",
        "SF_CREDPROC_AUDIENCE",
        in_profile=True,
        default_text="derived from --login-url",
        decides_output=True,
        doc="JWT `aud`",
        readme_default="derived, see below",
    ),
    Option(
        "key",
        "--key",
        "key source: kms:, secretsmanager:, ssm:, transit:, vault:, pkcs11:, file:, env: or a "
        "plugin's NAME:",
        "URI",
        "SF_CREDPROC_KEY",
        in_profile=True,
        required=True,
        decides_output=True,
        doc="key source URI, see below",
    ),
    Option(
        "region",
        "--region",
        "AWS region",
        "REGION",
        "SF_CREDPROC_REGION",
        in_profile=True,
        default_text="the AWS SDK's own resolution",
        decides_output=True,
        doc="AWS region (a key ARN's region wins when this is unset)",
        readme_default="the AWS SDK's own resolution, then `AWS_REGION`",
    ),
    Option(
        "aws_profile",
        "--aws-profile",
        "AWS named profile",
        "NAME",
        "SF_CREDPROC_AWS_PROFILE",
        in_profile=True,
        default_text="the AWS SDK's own resolution",
        decides_output=True,
    ),
    *SIGNER_SETTINGS,
    Option(
        "session_ttl",
        "--session-ttl",
        "seconds the Salesforce session lives (the org/app session timeout)",
        "SECONDS",
        "SF_CREDPROC_SESSION_TTL",
        in_profile=True,
        kind=Kind.WHOLE_SECONDS,
        default=7200,
        low=1,
        high=MAX_SESSION_TTL_SECONDS,
        decides_output=True,
        doc="seconds the Salesforce session lives, 1 to 86400",
    ),
    Option(
        "timeout",
        "--timeout",
        "overall deadline in seconds for the whole command",
        "SECONDS",
        "SF_CREDPROC_TIMEOUT",
        in_profile=True,
        kind=Kind.SECONDS,
        default=30.0,
        low=0.001,
        high=3600.0,
        decides_output=True,
        doc="overall deadline in seconds for the whole command (up to 3600)",
    ),
    Option(
        "cache_dir",
        "--cache-dir",
        "token cache directory",
        "DIR",
        "SF_CREDPROC_CACHE_DIR",
        in_profile=True,
        default_text="$XDG_CACHE_HOME/sf-credproc",
        decides_output=True,
        readme_default="`$XDG_CACHE_HOME/sf-credproc`, else `~/.cache/sf-credproc`",
    ),
    Option(
        "min_ttl",
        "--min-ttl",
        "advisory refresh window: with this many seconds or fewer left, try to refresh, "
        "keeping the token if that fails",
        "SECONDS",
        "SF_CREDPROC_MIN_TTL",
        in_profile=True,
        kind=Kind.WHOLE_SECONDS,
        default_text=f"min({DEFAULT_MIN_TTL_CEILING_SECONDS}, session TTL / 4)",
        low=0,
        high=MAX_SESSION_TTL_SECONDS,
        decides_output=True,
        readme_default=f"`min({DEFAULT_MIN_TTL_CEILING_SECONDS}, session TTL / 4)`",
        doc="the advisory refresh window: with this many seconds or fewer left before "
        "`Expiration` (plus up to 10 % per host), `get` tries to refresh and serves the cached "
        "token if that fails transiently (0 to 86400; when set, below `--session-ttl`; see "
        "[Refresh](#refresh-windows-and-failures))",
    ),
    Option(
        "mandatory_ttl",
        "--mandatory-ttl",
        "mandatory refresh window: with this many seconds or fewer left, a token is never "
        "served unless a refresh succeeds",
        "SECONDS",
        "SF_CREDPROC_MANDATORY_TTL",
        in_profile=True,
        kind=Kind.WHOLE_SECONDS,
        default_text=f"min({DEFAULT_MANDATORY_TTL_CEILING_SECONDS}, session TTL / 12)",
        low=0,
        high=MAX_SESSION_TTL_SECONDS,
        decides_output=True,
        readme_default=f"`min({DEFAULT_MANDATORY_TTL_CEILING_SECONDS}, session TTL / 12)`, "
        "at most `--min-ttl`",
        doc="the mandatory refresh window: with this many seconds or fewer left, `get` refreshes "
        "and fails (exit 5) if it cannot (0 to 86400; when set, at most `--min-ttl`; equal to it "
        "gives one window)",
    ),
    Option(
        "rate_limit_cooldown",
        "--rate-limit-cooldown",
        'after "login rate exceeded", make no login for this user for this many seconds',
        "SECONDS",
        "SF_CREDPROC_RATE_LIMIT_COOLDOWN",
        in_profile=True,
        kind=Kind.WHOLE_SECONDS,
        default=DEFAULT_RATE_LIMIT_COOLDOWN_SECONDS,
        low=0,
        high=3600,
        decides_output=True,
        doc='after Salesforce answers "login rate exceeded", no login is made for this user for '
        "this many seconds, on this machine and, with a shared cache, the fleet (0 to 3600; see "
        "[the circuit breaker](#login-rate-circuit-breaker))",
    ),
    Option(
        "shared_cache",
        "--shared-cache",
        "fleet-wide token cache: dynamodb://TABLE",
        "URI",
        "SF_CREDPROC_SHARED_CACHE",
        in_profile=True,
        # A cache hit serves the local entry, which the shared tier never overrides.
        doc="a fleet-wide cache, `dynamodb://TABLE` (see [the shared cache]"
        "(#the-shared-cache-a-fleet))",
        readme_default="none",
    ),
    Option(
        "shared_cache_key",
        "--shared-cache-key",
        "symmetric KMS key that encrypts tokens in the shared cache",
        "KEY",
        "SF_CREDPROC_SHARED_CACHE_KEY",
        in_profile=True,
        doc="the symmetric KMS key (id, `alias/NAME` or ARN) that encrypts tokens in the table",
        readme_default="none; required with `--shared-cache`",
    ),
    Option(
        "format",
        "--format",
        "output: json, env, token, header, github, sf or cumulusci",
        "FORMAT",
        "SF_CREDPROC_FORMAT",
        in_profile=True,
        kind=Kind.CHOICE,
        default="json",
        choices=("json", "env", "token", "header", "github", "sf", "cumulusci"),
        decides_output=True,
        doc="output: `json`, `env`, `token`, `header`, `github`, `sf` or `cumulusci` (see "
        "[Consumers](#consumers-formats-and-exec))",
    ),
    Option(
        "log_format",
        "--log-format",
        "what stderr carries: text lines, or one JSON object per event",
        "FORMAT",
        "SF_CREDPROC_LOG_FORMAT",
        in_profile=True,
        kind=Kind.CHOICE,
        default="text",
        choices=("text", "json"),
        # stderr only: stdout's bytes are the same in both formats.
        doc="stderr: `text` lines, or `json` (one object per event: `time`, `level`, `event`, "
        "`message` and fields)",
    ),
    Option(
        "trusted_hosts",
        "--trusted-host",
        "extra login host to trust (repeatable; env: comma-separated)",
        "HOST",
        "SF_CREDPROC_TRUSTED_HOSTS",
        in_profile=True,
        kind=Kind.HOST_LIST,
        decides_output=True,
        doc="extra login hosts to trust; `*.example.com` matches subdomains (never `*.com`, see "
        "[the policy](#login-url-policy-and-audience))",
        readme_default="none",
    ),
)

PROFILE = Option(
    "profile",
    "--profile",
    "profile from the config file",
    "NAME",
    PROFILE_ENV,
    default_text=f"'{DEFAULT_PROFILE}' if present",
    decides_output=True,
    doc="profile of the config file",
    readme_default=f"`{DEFAULT_PROFILE}` if present",
)
VERBOSE = Option(
    "verbose",
    "--verbose",
    "progress on stderr, never a secret",
    kind=Kind.SWITCH,
    short="-v",
    doc="one progress line per step on stderr; never a secret",
)
REFRESH = Option(
    "refresh",
    "--refresh",
    "log in even if the cache has a fresh token",
    kind=Kind.SWITCH,
    doc="log in even if the cache holds a fresh token, and replace the entry",
)
REJECTED_SHA256 = Option(
    "rejected_sha256",
    "--rejected-sha256",
    "hex SHA-256 of a token Salesforce just answered 401 INVALID_SESSION_ID to: replace it once "
    "(never the token itself)",
    "HEX",
    "SF_CREDPROC_REJECTED_SHA256",
    doc="the SHA-256 (64 hex digits) of a token a consumer just saw rejected with 401 "
    "`INVALID_SESSION_ID`: confirmed, dropped and replaced by one login (see [Compare and "
    "refresh](#compare-and-refresh-after-a-401)); no profile key",
    readme_default="none",
)
NO_CACHE = Option("no_cache", "--no-cache", "neither read nor write the cache", kind=Kind.SWITCH)

#: Settings read from the environment only (secrets never go on a command line).
ENVIRONMENT_ONLY: tuple[Option, ...] = (
    Option(
        "key_passphrase",
        None,
        "unlocks an encrypted PEM",
        env=PASSPHRASE_ENV,
        secret=True,
        doc="unlocks an encrypted PEM from `file:` or `env:` (only those: a `secretsmanager:` "
        "secret carries its own `passphrase` field, an `ssm:` parameter holds an unencrypted PEM)",
        readme_default="none",
    ),
    *SIGNER_ENVIRONMENT,
    Option(
        "config",
        None,
        "the config file",
        env=CONFIG_ENV,
        doc="the config file (TOML; `/dev/null` for none)",
        readme_default="`$XDG_CONFIG_HOME/sf-credproc/config.toml`, else "
        "`~/.config/sf-credproc/config.toml`",
    ),
    Option(
        "ca_bundle",
        None,
        "CA bundle for TLS to Salesforce",
        env="REQUESTS_CA_BUNDLE",
        env_fallbacks=("SSL_CERT_FILE",),
        doc="CA bundle for TLS to Salesforce",
        readme_default="the system's CA store (certifi)",
    ),
)

OPTIONS_BY_NAME = {option.name: option for option in GET_OPTIONS}
#: The settings a key source reads besides ``--key``: every command that loads the key takes them.
KEY_SOURCE_SETTINGS = (
    "key",
    "region",
    "aws_profile",
    "vault_role_id",
    "vault_secret_id_file",
    "vault_approle_mount",
    "pkcs11_module",
    "pkcs11_pin_file",
)
#: The variables ``exec`` removes from its command's environment (``env:`` keys' own too).
SECRET_ENVIRONMENT = tuple(str(option.env) for option in ENVIRONMENT_ONLY if option.secret)
PROFILE_KEYS = frozenset(option.name for option in GET_OPTIONS if option.in_profile)

#: Besides the options' variables, what locates the config file and the cache directory.
_LOCATION_ENVIRONMENT = ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", CONFIG_ENV)


def fast_path_environment() -> tuple[str, ...]:
    """The variables whose values key the fast path's index (``fast_path.py`` holds a copy,
    since importing this table there would cost more than the cache hit itself).

    Secrets (the key passphrase) are never among them: they never decide *which* token, and the
    index must never hold them.
    """
    deciding = [PROFILE, *GET_OPTIONS]
    return _LOCATION_ENVIRONMENT + tuple(
        option.env for option in deciding if option.decides_output and option.env
    )
