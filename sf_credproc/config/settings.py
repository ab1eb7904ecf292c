"""Resolve every setting of ``get``: flag > environment variable > config profile > default.

This module is the only reader of the environment. Each value is validated here, before any key is
touched or any request is made, and every error names the setting and where its value came from.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..cache.freshness import DEFAULT_MIN_TTL_SECONDS, default_min_ttl
from ..errors import ConfigError
from ..formats import FORMATS
from ..log import LOG_FORMATS
from .config_file import ConfigFile, load_config_file
from .key_uri import KeyUri, parse_key_uri
from .login_url import LoginUrl, derive_audience, parse_login_url
from .options import GET_OPTIONS, OPTIONS_BY_NAME, PROFILE_KEYS, Option
from .paths import default_cache_dir

PROFILE_ENV = "SF_CREDPROC_PROFILE"
PASSPHRASE_ENV = "SF_CREDPROC_KEY_PASSPHRASE"
DEFAULT_PROFILE = "default"
#: Salesforce session timeouts range from 15 minutes to 24 hours; a shorter TTL is always safe.
MAX_SESSION_TTL_SECONDS = 24 * 3600
MAX_TIMEOUT_SECONDS = 3600.0


@dataclass(frozen=True)
class Settings:
    """Everything ``get`` needs, validated. ``origins`` says where each value came from."""

    client_id: str
    username: str
    login_url: LoginUrl
    audience: str
    #: None only for commands that never sign (``logout``, ``cache clear``).
    key: KeyUri | None
    region: str | None
    #: ``AWS_REGION``: used when neither the settings nor boto3's own sources (AWS_DEFAULT_REGION,
    #: ~/.aws/config) name a region. Lambda, ECS and other AWS SDKs set or honour it.
    fallback_region: str | None
    aws_profile: str | None
    session_ttl_seconds: int
    timeout_seconds: float
    trusted_hosts: tuple[str, ...]
    profile: str | None
    config_path: str
    ca_bundle: str | None
    cache_dir: str = ""
    #: Already resolved by the one rule (``freshness.default_min_ttl`` when not set).
    min_ttl_seconds: int = DEFAULT_MIN_TTL_SECONDS
    refresh: bool = False
    no_cache: bool = False
    #: The shared cache's DynamoDB table and KMS key (None: no shared tier).
    shared_table: str | None = None
    shared_key: KeyUri | None = None
    output_format: str = "json"
    log_format: str = "text"
    #: ``$GITHUB_ENV``, the file ``--format github`` appends variables to.
    github_env: str | None = None
    key_passphrase: str | None = field(repr=False, default=None)
    verbose: bool = False
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_profile(
        cls, profile: str | None = None, *, environ: Mapping[str, str] | None = None, **options: Any
    ) -> Settings:
        """The settings of a config-file profile (``None``: the default one), with keyword
        overrides named like the long options (``client_id=...``, ``session_ttl=...``)."""
        from ..api import settings_from

        return settings_from(profile=profile, environ=environ, **options)


@dataclass(frozen=True)
class _Raw:
    value: Any
    origin: str
    #: From the TOML config file, where values carry their own types ("7200" is a string).
    typed: bool = False


def resolve_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    needs: frozenset[str] = frozenset({"client_id", "username", "key"}),
) -> Settings:
    """Build ``Settings`` from parsed flags (``None`` when absent) and the environment.

    ``needs`` names the settings this command cannot do without: the identity for ``logout`` and
    ``cache clear``, only the key for ``cert``. The others default to empty.
    """
    config = load_config_file(environ, PROFILE_KEYS)
    profile_name, profile = _select_profile(flags.get("profile"), environ, config)
    raw: dict[str, _Raw] = {}
    for option in GET_OPTIONS:
        found = _lookup(option, flags, environ, profile, profile_name, config.path)
        if found is not None:
            raw[option.name] = found
        elif option.required and option.name in needs:
            where = (
                f", or add {option.name} to profile {profile_name!r}"
                if profile_name
                else f", or add {option.name} to [profile.default] in {config.path}"
            )
            raise ConfigError(
                f"{option.flag} is required",
                hint=f"Pass {option.flag}, set {option.env}{where}",
            )

    def text(name: str) -> str | None:
        return _text(name, raw[name]) if name in raw else None

    trusted_hosts = _hosts(raw["trusted_hosts"]) if "trusted_hosts" in raw else ()
    login_raw = raw.get("login_url") or _Raw(OPTIONS_BY_NAME["login_url"].default, "default")
    login_url = parse_login_url(_text("login_url", login_raw), trusted_hosts, login_raw.origin)
    key = parse_key_uri(_text("key", raw["key"]), raw["key"].origin) if "key" in raw else None
    region = text("region")
    if region is not None:
        _check_region(region, raw["region"].origin)
    if key and key.region and region and key.region != region:
        raise ConfigError(
            f"--key {key} is in region {key.region} but --region (from {raw['region'].origin}) "
            f"is {region}",
            hint="Drop --region (the ARN names the region), or make them agree",
        )
    shared_table, shared_key = _shared_cache(raw.get("shared_cache"), raw.get("shared_cache_key"))
    session_ttl = _session_ttl(raw.get("session_ttl"))
    return Settings(
        client_id=text("client_id") or "",
        username=text("username") or "",
        login_url=login_url,
        audience=text("audience") or derive_audience(login_url),
        key=key,
        region=region,
        fallback_region=environ.get("AWS_REGION") or None,
        aws_profile=text("aws_profile"),
        session_ttl_seconds=session_ttl,
        timeout_seconds=_number(
            raw.get("timeout"), "timeout", 30.0, 0.001, MAX_TIMEOUT_SECONDS, float
        ),
        trusted_hosts=trusted_hosts,
        profile=profile_name,
        config_path=config.path,
        ca_bundle=_ca_bundle(environ),
        cache_dir=_cache_dir(raw.get("cache_dir"), environ),
        min_ttl_seconds=_min_ttl(raw.get("min_ttl"), raw.get("session_ttl"), session_ttl),
        refresh=bool(flags.get("refresh")),
        no_cache=bool(flags.get("no_cache")),
        shared_table=shared_table,
        shared_key=shared_key,
        output_format=_format(raw.get("format")),
        log_format=_choice(raw.get("log_format"), "log_format", LOG_FORMATS),
        github_env=environ.get("GITHUB_ENV") or None,
        key_passphrase=environ.get(PASSPHRASE_ENV) or None,
        verbose=bool(flags.get("verbose")),
        origins={name: found.origin for name, found in raw.items()},
    )


def resolve_cache_dir(flags: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The cache directory alone (for ``cache list``): flag > env > profile > default."""
    return resolve_cache_view(flags, environ)[0]


def resolve_cache_view(
    flags: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[str, int, int]:
    """The cache directory, ``--min-ttl`` and ``--session-ttl``, resolved like ``get``'s (for
    ``cache list``, whose state column applies ``get``'s freshness rule)."""
    config = load_config_file(environ, PROFILE_KEYS)
    profile_name, profile = _select_profile(flags.get("profile"), environ, config)

    def find(name: str) -> _Raw | None:
        option = OPTIONS_BY_NAME[name]
        return _lookup(option, flags, environ, profile, profile_name, config.path)

    session_raw = find("session_ttl")
    session_ttl = _session_ttl(session_raw)
    min_ttl = _min_ttl(find("min_ttl"), session_raw, session_ttl)
    return _cache_dir(find("cache_dir"), environ), min_ttl, session_ttl


def _session_ttl(raw: _Raw | None) -> int:
    value: int = _number(raw, "session_ttl", 7200, 1, MAX_SESSION_TTL_SECONDS, int)
    return value


def _min_ttl(raw: _Raw | None, session_raw: _Raw | None, session_ttl: int) -> int:
    """``--min-ttl`` as set, or scaled to the session when not set (``freshness``).

    A minimum TTL at or above the session's own would make every cached token due for refresh the
    moment it is saved: the cache would silently never serve, and every call would log in.
    """
    if raw is None:
        return default_min_ttl(session_ttl)
    min_ttl: int = _number(raw, "min_ttl", 0, 0, MAX_SESSION_TTL_SECONDS, int)
    if min_ttl >= session_ttl:
        session_origin = session_raw.origin if session_raw else "the default"
        raise ConfigError(
            f"--min-ttl {min_ttl} (from {raw.origin}) is not below --session-ttl {session_ttl} "
            f"(from {session_origin}): no cached token would ever be served",
            hint="Lower --min-ttl, or unset it: it then defaults to min(900, session TTL / 4)",
        )
    return min_ttl


def _cache_dir(raw: _Raw | None, environ: Mapping[str, str]) -> str:
    if raw is None:
        return default_cache_dir(environ)
    return os.path.abspath(os.path.expanduser(_text("cache_dir", raw)))


def _select_profile(
    flag_value: str | None, environ: Mapping[str, str], config: ConfigFile
) -> tuple[str | None, Mapping[str, Any]]:
    if flag_value is not None:
        name, origin = flag_value, "--profile"
    elif environ.get(PROFILE_ENV):
        name, origin = environ[PROFILE_ENV], PROFILE_ENV
    else:
        if DEFAULT_PROFILE in config.profiles:
            return DEFAULT_PROFILE, config.profiles[DEFAULT_PROFILE]
        return None, {}
    if name not in config.profiles:
        known = ", ".join(sorted(config.profiles)) or "none"
        raise ConfigError(
            f"profile {name!r} (from {origin}) is not in config file {config.path}",
            hint=f"Add a [profile.{name}] table, or choose one of: {known}",
        )
    return name, config.profiles[name]


def _lookup(
    option: Option,
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    profile: Mapping[str, Any],
    profile_name: str | None,
    config_path: str,
) -> _Raw | None:
    value = flags.get(option.name)
    if value is not None and value != []:
        return _Raw(value, option.flag)
    # An empty environment variable counts as unset, as in most CLIs.
    if environ.get(option.env):
        env_value = environ[option.env]
        if option.name == "trusted_hosts":
            return _Raw([h.strip() for h in env_value.split(",") if h.strip()], option.env)
        return _Raw(env_value, option.env)
    if option.name in profile:
        return _Raw(profile[option.name], f"profile {profile_name!r} in {config_path}", typed=True)
    return None


def _text(name: str, raw: _Raw) -> str:
    option = OPTIONS_BY_NAME[name]
    if not isinstance(raw.value, str) or not raw.value.strip():
        raise ConfigError(
            f"{option.flag} (from {raw.origin}) must be a non-empty string",
            hint=f"Set {option.flag} to a {option.metavar.lower()}",
        )
    return raw.value.strip()


def _hosts(raw: _Raw) -> tuple[str, ...]:
    """The ``--trusted-host`` entries in canonical form, each checked with the login URL's host
    grammar (``host_names``); a wildcard over a public suffix is refused when the list is there."""
    from .host_names import canonical_trusted_host, load_public_suffix_check

    values = raw.value
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise ConfigError(
            f"--trusted-host (from {raw.origin}) must be a list of host names",
            hint='Write trusted_hosts = ["sso.example.com"] in the profile',
        )
    entries = [v.strip() for v in values]
    # The Public Suffix List is read only when a wildcard needs it.
    wildcards = any(entry.startswith("*.") for entry in entries)
    is_public_suffix = load_public_suffix_check() if wildcards else None
    hosts = []
    for entry in entries:
        try:
            hosts.append(canonical_trusted_host(entry, is_public_suffix))
        except ValueError as error:
            raise ConfigError(
                f"--trusted-host {entry!r} (from {raw.origin}) {error}",
                hint="Give a bare host such as sso.example.com, or *.example.com for its "
                "subdomains",
            ) from None
    return tuple(hosts)


def _number(
    raw: _Raw | None,
    name: str,
    default: float,
    low: float,
    high: float,
    kind: Callable[[Any], Any],
) -> Any:
    if raw is None:
        return kind(default)
    option = OPTIONS_BY_NAME[name]
    what = "a whole number of seconds" if kind is int else "a number of seconds"
    value = raw.value
    if raw.typed and isinstance(value, str):
        # TOML has numbers: a quoted one is a mistake the README promises to report, not to guess.
        unquoted = raw.value.strip()
        hint = f"Write it without quotes: {name} = {unquoted}"
        if not unquoted.replace(".", "", 1).isdigit():
            hint = f"Set it to {what} between {low:g} and {high:g}, without quotes"
        raise ConfigError(
            f"{option.flag} {raw.value!r} (from {raw.origin}) is a string, not {what}",
            hint=hint,
        )
    if isinstance(value, str):
        try:
            value = kind(value.strip())
        except ValueError:
            value = None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (kind is int and not isinstance(value, int))
    ):
        raise ConfigError(
            f"{option.flag} {raw.value!r} (from {raw.origin}) is not {what}",
            hint=f"Set it to {what} between {low:g} and {high:g}",
        )
    if not low <= value <= high:
        raise ConfigError(
            f"{option.flag} {raw.value!r} (from {raw.origin}) is out of range",
            hint=f"Set it to {what} between {low:g} and {high:g}",
        )
    return kind(value)


def _shared_cache(table: _Raw | None, key: _Raw | None) -> tuple[str | None, KeyUri | None]:
    if table is None:
        return None, None
    from ..cache.shared import parse_table  # after the check: it loads botocore

    text = _text("shared_cache", table)
    try:
        name = parse_table(text)
    except ValueError:
        raise ConfigError(
            f"--shared-cache {text!r} (from {table.origin}) is not dynamodb://TABLE",
            hint="Name a DynamoDB table, such as dynamodb://sf-credproc-tokens",
        ) from None
    if key is None:
        raise ConfigError(
            "--shared-cache needs --shared-cache-key: tokens in the table are encrypted with it",
            hint="Pass a symmetric KMS key id, alias/NAME or ARN (SF_CREDPROC_SHARED_CACHE_KEY)",
        )
    key_text = _text("shared_cache_key", key)
    uri = parse_key_uri(key_text if key_text.startswith("kms:") else f"kms:{key_text}", key.origin)
    return name, uri


def _format(raw: _Raw | None) -> str:
    return _choice(raw, "format", FORMATS)


def _choice(raw: _Raw | None, name: str, choices: tuple[str, ...]) -> str:
    if raw is None:
        return choices[0]
    value = _text(name, raw)
    if value not in choices:
        raise ConfigError(
            f"{OPTIONS_BY_NAME[name].flag} {value!r} (from {raw.origin}) is not one of "
            + ", ".join(choices),
            hint="Use one of: " + ", ".join(choices),
        )
    return value


def early_log_format(flags: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The log format for errors raised before the settings are resolved (flag > env > text)."""
    value = flags.get("log_format") or environ.get("SF_CREDPROC_LOG_FORMAT") or "text"
    return value if value in LOG_FORMATS else "text"


def _check_region(region: str, origin: str) -> None:
    # Region names are lower-case words and digits joined by hyphens (us-east-1, us-gov-west-1).
    if not all((part.isalnum() and part.islower()) or part.isdigit() for part in region.split("-")):
        raise ConfigError(
            f"--region {region!r} (from {origin}) is not an AWS region name",
            hint="Use a region such as us-east-1 or eu-west-1",
        )


def _ca_bundle(environ: Mapping[str, str]) -> str | None:
    """The CA bundle requests should verify TLS with: REQUESTS_CA_BUNDLE, then SSL_CERT_FILE."""
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        path = environ.get(name)
        if path:
            if not os.path.exists(path):
                raise ConfigError(
                    f"{name} names {path}, which does not exist",
                    hint=f"Point {name} at a PEM CA bundle, or unset it",
                )
            return path
    return None
