"""The TOML config file: ``[profile.NAME]`` tables whose keys are the long option names.

Found at ``$SF_CREDPROC_CONFIG``, else ``$XDG_CONFIG_HOME/sf-credproc/config.toml``, else
``~/.config/sf-credproc/config.toml`` (XDG Base Directory Specification).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

from ..errors import ConfigError
from ..local_files import FileTooLargeError, NotRegularFileError, read_regular_file
from ..paths import CONFIG_ENV, config_path

#: A config file is a few profiles of a dozen short settings; a megabyte is not a config file.
MAX_CONFIG_BYTES = 1024 * 1024


class ConfigFile(NamedTuple):
    """The profiles of one config file (empty when the default file does not exist)."""

    path: str
    profiles: Mapping[str, Mapping[str, Any]]


def load_config_file(environ: Mapping[str, str], allowed_keys: Collection[str]) -> ConfigFile:
    """Read and check the config file; a missing default file is an empty one."""
    path, explicit = config_path(environ)
    if os.path.realpath(path) == os.devnull:
        # SF_CREDPROC_CONFIG=/dev/null (or a link to it): the usual way to say "no config file".
        return ConfigFile(path, {})
    try:
        raw = read_regular_file(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(
                f"config file {path} (from {CONFIG_ENV}) does not exist",
                hint=f"Create it, or unset {CONFIG_ENV}",
            ) from None
        return ConfigFile(path, {})
    except (NotRegularFileError, FileTooLargeError) as error:
        raise ConfigError(
            f"config file {path} {error}",
            hint="Point SF_CREDPROC_CONFIG at a TOML file",
        ) from None
    except OSError as error:
        raise ConfigError(
            f"config file {path} cannot be read ({error.strerror})",
            hint="Fix its permissions or set SF_CREDPROC_CONFIG to another file",
        ) from None
    return ConfigFile(path, _parse(raw, path, allowed_keys))


def _parse(raw: bytes, path: str, allowed_keys: Collection[str]) -> dict[str, dict[str, Any]]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(
            f"config file {path} is not UTF-8 text", hint="Save it as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"config file {path} is not valid TOML ({error})", hint="Fix the syntax at that line"
        ) from None
    layout = "Put settings in [profile.NAME] tables"
    unknown = sorted(set(document) - {"profile"})
    if unknown:
        raise ConfigError(
            f"config file {path} has unknown top-level key {unknown[0]!r}", hint=layout
        )
    profiles = document.get("profile", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"config file {path}: 'profile' is not a table", hint=layout)
    for name, values in profiles.items():
        if not isinstance(values, dict):
            raise ConfigError(f"config file {path}: profile {name!r} is not a table", hint=layout)
        for key in values:
            if key not in allowed_keys:
                raise ConfigError(
                    f"config file {path}: profile {name!r} has unknown key {key!r}",
                    hint="Known keys: " + ", ".join(sorted(allowed_keys)),
                )
    return profiles
