"""The Python API: credentials for programs that would rather import the helper than spawn it.

``get_credential`` takes the settings of ``sf-credproc get`` as keyword arguments (or a profile, or a
``Settings``), goes through the same cache (local, and shared when configured) and returns an
immutable ``Credential``. Errors are the exceptions behind the exit codes. Nothing is printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .clock import Clock, SystemClock
from .compose import CredentialPipeline
from .config.settings import Settings, resolve_keywords
from .credential import Credential


def get_credential(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> Credential:
    """A fresh credential, from the cache or a single login. Raises ``CredProcError`` subclasses.

    Pass a ``Settings`` (``Settings.from_profile``), or keyword arguments as ``config.settings.resolve_keywords`` takes.
    """
    env = os.environ if environ is None else environ
    if settings is None:
        settings = resolve_keywords(environ=env, **options)
    elif options:
        raise TypeError("pass either settings or keyword arguments, not both")
    pipeline = CredentialPipeline(settings, clock=clock or SystemClock(), environ=env)
    return pipeline.obtain().credential
