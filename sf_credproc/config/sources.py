"""Where a setting's value comes from: the flag, the environment variable, the profile, in that order.

An empty environment variable counts as unset, as in most CLIs. The profile is the one ``--profile``
or ``SF_CREDPROC_PROFILE`` names, else ``[profile.default]`` when the config file has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .config_file import ConfigFile, load_config_file
from .option import Kind, Option
from .options import DEFAULT_PROFILE, OPTIONS_BY_NAME, PROFILE_ENV, PROFILE_KEYS
from .values import RawValue, check_choice


@dataclass(frozen=True, eq=False)  # a context, compared by identity
class SettingSources:
    """The flags (``None`` when absent), the environment and the selected profile of one call."""

    flags: Mapping[str, Any]
    environ: Mapping[str, str]
    config: ConfigFile
    profile_name: str | None
    profile: Mapping[str, Any] = field(default_factory=dict)
    #: The flags are a Python caller's keyword arguments (``get_credential(session_ttl=...)``).
    from_python: bool = False

    def find(self, option: Option) -> RawValue | None:
        """The option's value from the first source that sets it, or None."""
        value = self.flags.get(option.name)
        if value is not None and value != []:
            origin = option.python_label() if self.from_python else str(option.flag)
            return RawValue(option, value, origin, from_python=self.from_python)
        env_value = self.environ.get(option.env) if option.env else None
        if env_value and option.env:
            if option.kind is Kind.HOST_LIST:
                hosts = [h.strip() for h in env_value.split(",") if h.strip()]
                return RawValue(option, hosts, option.env)
            return RawValue(option, env_value, option.env)
        if option.in_profile and option.name in self.profile:
            origin = f"profile {self.profile_name!r} in {self.config.path}"
            return RawValue(option, self.profile[option.name], origin, typed=True)
        return None


def load_sources(
    flags: Mapping[str, Any], environ: Mapping[str, str], *, from_python: bool = False
) -> SettingSources:
    """Read the config file and select the profile (``ConfigError`` if either is wrong)."""
    config = load_config_file(environ, PROFILE_KEYS)
    name, profile = _select_profile(flags.get("profile"), environ, config)
    return SettingSources(flags, environ, config, name, profile, from_python)


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


def resolve_log_format(flags: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """``--log-format`` by the rule of every setting (flag > env > profile > default), for the
    command line's stderr handler: every command, whether or not it resolves other settings.

    Never raises: the line that reports a wrong setting must still be written. A source that cannot
    be read or holds no valid format is passed over; the command's own resolution then reports it.
    """
    option = OPTIONS_BY_NAME["log_format"]
    for value in (flags.get(option.name), environ.get(str(option.env))):
        if value:
            return value if value in option.choices else str(option.default)
    try:
        sources = load_sources({"profile": flags.get("profile")}, environ)
        return check_choice(sources.find(option), option)
    except ConfigError:
        return str(option.default)
