"""The Python API: credentials for programs that would rather import the helper than spawn it.

``get_credential`` takes the settings of ``sf-credproc get`` as keyword arguments (or a profile, or a
``Settings``), goes through the same cache (local, and shared when configured) and returns an
immutable ``Credential``. Errors are the exceptions behind the exit codes. Nothing is printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from .clock import Clock, SystemClock
from .compose import CredentialPipeline
from .config.options import GET_OPTIONS
from .config.settings import Settings, resolve_settings
from .credential import Credential

_OPTION_NAMES = frozenset(option.name for option in GET_OPTIONS)


def settings_from(
    *,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    refresh: bool = False,
    no_cache: bool = False,
    **options: Any,
) -> Settings:
    """``Settings`` as the command line would resolve them: keyword arguments play the flags.

    Keyword names are the long option names with underscores (``client_id``, ``login_url``,
    ``session_ttl``, ``trusted_hosts`` ...); the environment and the config profile fill the rest.
    """
    unknown = sorted(set(options) - _OPTION_NAMES)
    if unknown:
        raise TypeError(f"unknown setting(s): {', '.join(unknown)}")
    flags: dict[str, Any] = {name: None for name in _OPTION_NAMES}
    for name, value in options.items():
        if value is not None:
            # Numbers and lists arrive as Python values; the resolver validates them like flags.
            flags[name] = (
                list(value) if isinstance(value, Sequence) and not isinstance(value, str) else value
            )
    flags.update(profile=profile, refresh=refresh, no_cache=no_cache, verbose=False)
    return resolve_settings(flags, os.environ if environ is None else environ)


def get_credential(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> Credential:
    """A fresh credential, from the cache or a single login. Raises ``CredProcError`` subclasses.

    Pass a ``Settings`` (``Settings.from_profile``), or keyword arguments as ``settings_from`` takes.
    """
    env = os.environ if environ is None else environ
    if settings is None:
        settings = settings_from(environ=env, **options)
    elif options:
        raise TypeError("pass either settings or keyword arguments, not both")
    pipeline = CredentialPipeline(settings, clock=clock or SystemClock(), environ=env)
    return pipeline.obtain().credential
