"""The Python API: credentials for programs that would rather import the helper than spawn it.

``get_credential`` takes the settings of ``sf-credproc get`` as keyword arguments (or a profile, or a
``Settings``), goes through the same cache (local, and shared when configured) with the same refresh
windows (``cache/refresh.py``: a token in the advisory window is refreshed, and kept when the
refresh fails transiently; in the mandatory window a failed refresh raises) and returns an
immutable ``Credential``. ``rejected_sha256=`` is ``get --rejected-sha256``: compare and refresh
after a 401. Errors are the exceptions behind the exit codes. Nothing is printed.

With ``SF_CREDPROC_SERVER_URL`` or ``SF_CREDPROC_SERVER_SOCKET`` in the environment, the credential
comes from that running endpoint instead (``server_client.py``; ``rejected_sha256=`` is sent to
it), and only the settings given are resolved: no key or client id is needed, and an explicit
username must be the served one (``server_use.py``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .clock import Clock, SystemClock
from .compose import CredentialPipeline
from .config.options import REJECTED_SHA256
from .config.serve_options import uses_endpoint
from .config.settings import Settings, resolve_keywords
from .config.values import RawValue, check_sha256
from .credential import Credential
from .deadline import Deadline
from .server_use import NEEDS_NOTHING, check_identity, say_ignored

if TYPE_CHECKING:
    from .server_client import ServerEndpoint


def get_credential(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    rejected_sha256: str | None = None,
    **options: Any,
) -> Credential:
    """A fresh credential, from the cache or a single login. Raises ``CredProcError`` subclasses.

    Pass a ``Settings`` (``Settings.from_profile``), or keyword arguments as ``config.settings.resolve_keywords`` takes.
    ``rejected_sha256``: the SHA-256 (64 hex digits) of a token Salesforce just answered 401
    ``INVALID_SESSION_ID`` to; the cache drops it once Salesforce confirms it dead, and one caller
    logs in (``ConfigError`` naming ``rejected_sha256=`` for anything but a digest).
    """
    env = os.environ if environ is None else environ
    if uses_endpoint(env):
        from .server_client import ServerEndpoint  # ssl and http.client: only for an endpoint

        endpoint = ServerEndpoint.from_environment(env)
        if endpoint is not None:
            return _from_endpoint(endpoint, settings, clock, env, rejected_sha256, options)
    if settings is None:
        settings = resolve_keywords(environ=env, rejected_sha256=rejected_sha256, **options)
        rejected_sha256 = None  # checked, and in the settings now
    elif options:
        raise TypeError("pass either settings or keyword arguments, not both")
    elif rejected_sha256 is not None:
        label = REJECTED_SHA256.python_label()
        rejected_sha256 = check_sha256(
            RawValue(REJECTED_SHA256, rejected_sha256, label, from_python=True)
        )
    pipeline = CredentialPipeline(settings, clock=clock or SystemClock(), environ=env)
    return pipeline.obtain(rejected_sha256=rejected_sha256).credential


def _from_endpoint(
    endpoint: ServerEndpoint,
    settings: Settings | None,
    clock: Clock | None,
    env: Mapping[str, str],
    rejected_sha256: str | None,
    options: dict[str, Any],
) -> Credential:
    """The credential the endpoint serves, after resolving only what the caller gave."""
    if settings is None:
        settings = resolve_keywords(
            environ=env, rejected_sha256=rejected_sha256, needs=NEEDS_NOTHING, **options
        )
    elif options:
        raise TypeError("pass either settings or keyword arguments, not both")
    elif rejected_sha256 is not None:
        label = REJECTED_SHA256.python_label()
        digest = check_sha256(RawValue(REJECTED_SHA256, rejected_sha256, label, from_python=True))
        settings = dataclasses.replace(settings, rejected_sha256=digest)
    say_ignored(settings)
    deadline = Deadline(settings.timeout_seconds, clock or SystemClock())
    credential = endpoint.fetch(rejected_sha256=settings.rejected_sha256, deadline=deadline)
    check_identity(settings, credential, endpoint.where)
    return credential
