"""Resolve every setting of a command: flag > environment variable > config profile > default.

Each value is validated here, against its entry in the option spec (``options.py``), before any key
is touched or any request is made, and every error names the setting and where its value came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..errors import ConfigError
from ..log import one_line
from ..paths import default_cache_dir
from .key_uri import KeyUri, parse_key_uri
from .login_url import LoginUrl, derive_audience, parse_login_url
from .option import naming
from .options import (
    ENVIRONMENT_ONLY,
    GET_OPTIONS,
    OPTIONS_BY_NAME,
    PASSPHRASE_ENV,
    PKCS11_PIN_ENV,
    REJECTED_SHA256,
    VAULT_SECRET_ID_ENV,
    default_mandatory_ttl,
    default_min_ttl,
)
from .sources import SettingSources, load_sources
from .values import (
    RawValue,
    check_choice,
    check_hosts,
    check_region,
    check_seconds,
    check_sha256,
    check_text,
    parse_table,
)

_SESSION_TTL = OPTIONS_BY_NAME["session_ttl"]
_MIN_TTL = OPTIONS_BY_NAME["min_ttl"]
_MANDATORY_TTL = OPTIONS_BY_NAME["mandatory_ttl"]
_COOLDOWN = OPTIONS_BY_NAME["rate_limit_cooldown"]
_FORMAT = OPTIONS_BY_NAME["format"]
_LOG_FORMAT = OPTIONS_BY_NAME["log_format"]
_CA_BUNDLE = next(option for option in ENVIRONMENT_ONLY if option.name == "ca_bundle")
_SETTING_NAMES = frozenset(OPTIONS_BY_NAME)


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
    #: ``AWS_REGION``: used when neither the settings nor the AWS SDK's own sources (botocore's
    #: session: AWS_DEFAULT_REGION, ~/.aws/config) name a region. Lambda, ECS and other AWS SDKs set
    #: or honour it.
    fallback_region: str | None
    aws_profile: str | None
    session_ttl_seconds: int
    timeout_seconds: float
    trusted_hosts: tuple[str, ...]
    profile: str | None
    config_path: str
    ca_bundle: str | None
    cache_dir: str = ""
    #: The advisory refresh window (``--min-ttl``), already resolved by the one rule
    #: (``options.default_min_ttl`` when not set); each host adds its jitter (``cache/disk.py``).
    min_ttl_seconds: int = default_min_ttl(int(_SESSION_TTL.default or 0))
    #: The mandatory refresh window (``--mandatory-ttl``), at most ``min_ttl_seconds``.
    mandatory_ttl_seconds: int = default_mandatory_ttl(int(_SESSION_TTL.default or 0))
    #: No login for this user for this long after "login rate exceeded" (``cache/cooldown.py``).
    rate_limit_cooldown_seconds: int = int(_COOLDOWN.default or 0)
    #: The SHA-256 (hex) of a token a consumer saw rejected (``--rejected-sha256``).
    rejected_sha256: str | None = None
    refresh: bool = False
    no_cache: bool = False
    #: The shared cache's DynamoDB table and KMS key (None: no shared tier).
    shared_table: str | None = None
    shared_key: KeyUri | None = None
    output_format: str = str(_FORMAT.default)
    log_format: str = str(_LOG_FORMAT.default)
    #: ``$GITHUB_ENV``, the file ``--format github`` appends variables to.
    github_env: str | None = None
    key_passphrase: str | None = field(repr=False, default=None)
    #: Vault AppRole (``transit:`` and ``vault:`` keys, when no token is found).
    vault_role_id: str | None = None
    vault_secret_id_file: str | None = None
    vault_approle_mount: str = str(OPTIONS_BY_NAME["vault_approle_mount"].default)
    vault_secret_id: str | None = field(repr=False, default=None)
    #: PKCS#11 (``pkcs11:`` keys): what the URI's own ``module-path`` and ``pin-source`` beat.
    pkcs11_module: str | None = None
    pkcs11_pin_file: str | None = None
    pkcs11_pin: str | None = field(repr=False, default=None)
    verbose: bool = False
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_profile(
        cls, profile: str | None = None, *, environ: Mapping[str, str] | None = None, **options: Any
    ) -> Settings:
        """The settings of a config-file profile (``None``: the default one), with keyword
        overrides named like the long options (``client_id=...``, ``session_ttl=...``)."""
        return resolve_keywords(profile=profile, environ=environ, **options)


def resolve_keywords(
    *,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    refresh: bool = False,
    no_cache: bool = False,
    rejected_sha256: str | None = None,
    needs: frozenset[str] | None = None,
    **options: Any,
) -> Settings:
    """``Settings`` as the command line would resolve them, keyword arguments playing the flags.

    Keyword names are the settings' names in the option spec (``client_id``, ``login_url``,
    ``session_ttl``, ``trusted_hosts`` ...); the environment and the config profile fill the rest.
    Errors name them as given: ``session_ttl=`` (``TypeError`` for a name that is no setting).
    ``needs``: as ``resolve_settings`` takes it (None: what a login needs).
    """
    unknown = sorted(set(options) - _SETTING_NAMES)
    if unknown:
        raise TypeError(f"unknown setting(s): {', '.join(unknown)}")
    flags: dict[str, Any] = {name: None for name in _SETTING_NAMES}
    for name, value in options.items():
        if value is not None:
            # Numbers and lists arrive as Python values; the resolver validates them like flags.
            is_list = isinstance(value, Sequence) and not isinstance(value, str)
            flags[name] = list(value) if is_list else value
    flags.update(
        profile=profile,
        refresh=refresh,
        no_cache=no_cache,
        rejected_sha256=rejected_sha256,
        verbose=False,
    )
    env = os.environ if environ is None else environ
    if needs is None:
        return resolve_settings(flags, env, from_python=True)
    return resolve_settings(flags, env, needs=needs, from_python=True)


def resolve_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    needs: frozenset[str] = frozenset({"client_id", "username", "key"}),
    from_python: bool = False,
) -> Settings:
    """Build ``Settings`` from parsed flags (``None`` when absent) and the environment.

    ``needs`` names the settings this command cannot do without: the identity for ``logout`` and
    ``cache clear``, only the key for ``cert``. The others default to empty. ``from_python``: the
    flags are a Python caller's keyword arguments, and errors name them so (``session_ttl=``).
    """
    sources = load_sources(flags, environ, from_python=from_python)
    raw: dict[str, RawValue] = {}
    for option in GET_OPTIONS:
        found = sources.find(option)
        if found is not None:
            raw[option.name] = found
        elif option.required and option.name in needs:
            raise _missing(option.name, sources)

    def text(name: str) -> str | None:
        return check_text(raw[name]) if name in raw else None

    trusted_hosts = check_hosts(raw["trusted_hosts"]) if "trusted_hosts" in raw else ()
    login_url = _login_url(raw.get("login_url"), trusted_hosts, from_python)
    key = parse_key_uri(check_text(raw["key"]), raw["key"].origin) if "key" in raw else None
    region = check_region(raw["region"]) if "region" in raw else None
    if key and key.region and region and key.region != region:
        region_label = raw["region"].label
        raise ConfigError(
            f"{naming(raw['key'].label, str(key))} is in region {key.region} but {region_label} "
            f"(from {raw['region'].origin}) is {region}",
            hint=f"Drop {region_label} (the ARN names the region), or make them agree",
        )
    shared_table, shared_key = _shared_cache(raw.get("shared_cache"), raw.get("shared_cache_key"))
    windows = _windows(raw.get("session_ttl"), raw.get("min_ttl"), raw.get("mandatory_ttl"))
    return Settings(
        client_id=text("client_id") or "",
        username=text("username") or "",
        login_url=login_url,
        audience=text("audience") or derive_audience(login_url),
        key=key,
        region=region,
        fallback_region=environ.get("AWS_REGION") or None,
        aws_profile=text("aws_profile"),
        session_ttl_seconds=windows.session_ttl_seconds,
        timeout_seconds=check_seconds(raw.get("timeout"), OPTIONS_BY_NAME["timeout"]),
        trusted_hosts=trusted_hosts,
        profile=sources.profile_name,
        config_path=sources.config.path,
        ca_bundle=ca_bundle_of(environ),
        cache_dir=_cache_dir(raw.get("cache_dir"), environ),
        min_ttl_seconds=windows.min_ttl_seconds,
        mandatory_ttl_seconds=windows.mandatory_ttl_seconds,
        rate_limit_cooldown_seconds=check_seconds(raw.get("rate_limit_cooldown"), _COOLDOWN),
        rejected_sha256=_rejected_sha256(flags, environ, from_python),
        refresh=bool(flags.get("refresh")),
        no_cache=bool(flags.get("no_cache")),
        shared_table=shared_table,
        shared_key=shared_key,
        output_format=check_choice(raw.get("format"), _FORMAT),
        log_format=check_choice(raw.get("log_format"), _LOG_FORMAT),
        github_env=environ.get("GITHUB_ENV") or None,
        key_passphrase=environ.get(PASSPHRASE_ENV) or None,
        vault_role_id=text("vault_role_id"),
        vault_secret_id_file=_path(raw.get("vault_secret_id_file")),
        vault_approle_mount=(text("vault_approle_mount") or "approle").strip("/"),
        vault_secret_id=environ.get(VAULT_SECRET_ID_ENV) or None,
        pkcs11_module=text("pkcs11_module"),
        pkcs11_pin_file=_path(raw.get("pkcs11_pin_file")),
        pkcs11_pin=environ.get(PKCS11_PIN_ENV) or None,
        verbose=bool(flags.get("verbose")),
        origins={name: found.origin for name, found in raw.items()},
    )


def resolve_cache_dir(flags: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The cache directory alone (for ``cache clear --all``): flag > env > profile > default."""
    return resolve_cache_view(flags, environ).directory


class Windows(NamedTuple):
    """``--session-ttl`` and the two refresh windows, resolved and checked together."""

    session_ttl_seconds: int
    #: The advisory window (``--min-ttl``).
    min_ttl_seconds: int
    #: The mandatory window (``--mandatory-ttl``).
    mandatory_ttl_seconds: int


class CacheView(NamedTuple):
    """What ``cache list`` needs to say each entry's state as ``get`` would judge it."""

    directory: str
    windows: Windows
    rate_limit_cooldown_seconds: int


def resolve_cache_view(flags: Mapping[str, Any], environ: Mapping[str, str]) -> CacheView:
    """The cache directory, the refresh windows and the cool-down, resolved like ``get``'s (for
    ``cache list``, whose state column applies ``get``'s rules); ``--log-format`` is checked too,
    as every command checks it."""
    sources = load_sources(flags, environ)

    def find(name: str) -> RawValue | None:
        return sources.find(OPTIONS_BY_NAME[name])

    windows = _windows(find("session_ttl"), find("min_ttl"), find("mandatory_ttl"))
    check_choice(find("log_format"), _LOG_FORMAT)
    cooldown = check_seconds(find("rate_limit_cooldown"), _COOLDOWN)
    return CacheView(_cache_dir(find("cache_dir"), environ), windows, cooldown)


def _missing(name: str, sources: SettingSources) -> ConfigError:
    option = OPTIONS_BY_NAME[name]
    label = option.python_label() if sources.from_python else str(option.flag)
    where = (
        f", or add {name} to profile {sources.profile_name!r}"
        if sources.profile_name
        else f", or add {name} to [profile.default] in {sources.config.path}"
    )
    return ConfigError(f"{label} is required", hint=f"Pass {label}, set {option.env}{where}")


def _login_url(raw: RawValue | None, trusted_hosts: tuple[str, ...], from_python: bool) -> LoginUrl:
    option = OPTIONS_BY_NAME["login_url"]
    if raw is None:
        raw = RawValue(option, option.default, "default", from_python=from_python)
    return parse_login_url(check_text(raw), trusted_hosts, raw.origin, raw.label)


def _windows(
    session_raw: RawValue | None, min_raw: RawValue | None, mandatory_raw: RawValue | None
) -> Windows:
    """``--session-ttl`` and the two refresh windows, each as set or scaled to the session.

    An advisory window at or above the session's own would make every cached token due for
    refresh the moment it is saved: the cache would silently never serve, and every call would log
    in. A mandatory window wider than the advisory one would leave no advisory window at all. When
    only ``--min-ttl`` is set, the mandatory default is capped at it (equal: one window, as before
    there were two).
    """
    session_ttl: int = check_seconds(session_raw, _SESSION_TTL)
    session_label = session_raw.label if session_raw else str(_SESSION_TTL.flag)
    session_origin = session_raw.origin if session_raw else "the default"
    if min_raw is None:
        min_ttl = default_min_ttl(session_ttl)
    else:
        min_ttl = check_seconds(min_raw, _MIN_TTL)
        if min_ttl >= session_ttl:
            raise ConfigError(
                f"{min_raw.subject(str(min_ttl))} (from {min_raw.origin}) is not below "
                f"{naming(session_label, str(session_ttl))} (from {session_origin}): no cached "
                "token would ever be served",
                hint=f"Lower {min_raw.label}, or unset it: it then defaults to "
                f"{_MIN_TTL.default_text}",
            )
    if mandatory_raw is None:
        return Windows(session_ttl, min_ttl, min(default_mandatory_ttl(session_ttl), min_ttl))
    mandatory_ttl: int = check_seconds(mandatory_raw, _MANDATORY_TTL)
    if mandatory_ttl > min_ttl:
        min_label = min_raw.label if min_raw else str(_MIN_TTL.flag)
        min_origin = min_raw.origin if min_raw else f"the default, {_MIN_TTL.default_text}"
        raise ConfigError(
            f"{mandatory_raw.subject(str(mandatory_ttl))} (from {mandatory_raw.origin}) is above "
            f"{naming(min_label, str(min_ttl))} (from {min_origin}): the mandatory refresh window "
            "must lie inside the advisory one",
            hint=f"Lower {mandatory_raw.label} to at most {min_ttl}, or raise {min_label}",
        )
    return Windows(session_ttl, min_ttl, mandatory_ttl)


def _rejected_sha256(
    flags: Mapping[str, Any], environ: Mapping[str, str], from_python: bool
) -> str | None:
    """``--rejected-sha256`` (or its variable; never a profile key: it names one token, now)."""
    value = flags.get("rejected_sha256")
    if value is not None:
        label = REJECTED_SHA256.python_label() if from_python else str(REJECTED_SHA256.flag)
        return check_sha256(RawValue(REJECTED_SHA256, value, label, from_python=from_python))
    env_value = environ.get(str(REJECTED_SHA256.env))
    if env_value:
        return check_sha256(RawValue(REJECTED_SHA256, env_value, str(REJECTED_SHA256.env)))
    return None


def _path(raw: RawValue | None) -> str | None:
    """A file named by a setting, ``~`` expanded (its checks come when it is read)."""
    return None if raw is None else os.path.expanduser(check_text(raw))


def _cache_dir(raw: RawValue | None, environ: Mapping[str, str]) -> str:
    if raw is None:
        return default_cache_dir(environ)
    return os.path.abspath(os.path.expanduser(check_text(raw)))


def _shared_cache(table: RawValue | None, key: RawValue | None) -> tuple[str | None, KeyUri | None]:
    if table is None:
        return None, None
    text = check_text(table)
    try:
        name = parse_table(text)
    except ValueError as error:
        raise ConfigError(
            f"{table.subject(repr(text))} (from {table.origin}) is not dynamodb://TABLE",
            hint="Name a DynamoDB table, such as dynamodb://sf-credproc-tokens",
        ) from error
    if key is None:
        needed = OPTIONS_BY_NAME["shared_cache_key"]
        needed_label = needed.python_label() if table.from_python else needed.flag
        raise ConfigError(
            f"{table.label} needs {needed_label}: tokens in the table are encrypted with it",
            hint="Pass a symmetric KMS key id, alias/NAME or ARN (SF_CREDPROC_SHARED_CACHE_KEY)",
        )
    key_text = check_text(key)
    uri = parse_key_uri(key_text if key_text.startswith("kms:") else f"kms:{key_text}", key.origin)
    return name, uri


def ca_bundle_of(environ: Mapping[str, str]) -> str | None:
    """The CA bundle requests should verify TLS with: REQUESTS_CA_BUNDLE, then SSL_CERT_FILE (for
    Salesforce, and for an https credential endpoint: ``server_client.py``)."""
    for name in (str(_CA_BUNDLE.env), *_CA_BUNDLE.env_fallbacks):
        path = environ.get(name)
        if path:
            if not os.path.exists(path):
                raise ConfigError(
                    f"{name} names {one_line(path)}, which does not exist",
                    hint=f"Point {name} at a PEM CA bundle, or unset it",
                )
            return path
    return None
