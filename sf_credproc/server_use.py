"""Obtaining the credential from a running endpoint instead of logging in: what ``get``, ``exec``,
``get_credential`` and ``SalesforceAuth`` share when ``SF_CREDPROC_SERVER_URL`` or
``SF_CREDPROC_SERVER_SOCKET`` is set.

The endpoint owns the identity, the key, the caches and the refreshing; the client resolves only
the settings it is given (no ``--key`` or client id needed) and checks one thing: when a username is
set explicitly (a flag, ``SF_CREDPROC_USERNAME``, a keyword argument, a profile chosen by name), it
must be the served credential's ``Username`` (case-insensitively, as Salesforce compares them), or
the call is refused with exit 2. A username from the ``default`` profile is not checked: a program
that ``exec --server --profile prod`` started reads the same config file, whose default profile
may name someone else.

``--refresh`` is not sent (the endpoint refreshes by itself, and a token Salesforce rejected is
reported with ``rejected_sha256``): a warning says so. ``--no-cache`` is ignored: the endpoint's
own settings decide its caches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import log
from .config.options import DEFAULT_PROFILE, MAX_SESSION_TTL_SECONDS
from .errors import ConfigError

if TYPE_CHECKING:
    from .cache.refresh import RefreshWindows
    from .clock import Clock
    from .config.settings import Settings
    from .credential import Credential
    from .keeper import Fetch
    from .server_client import ServerEndpoint

#: No login is needed, so no setting is required (``resolve_settings(needs=...)``).
NEEDS_NOTHING: frozenset[str] = frozenset()


def check_identity(settings: Settings, credential: Credential, where: str) -> None:
    """``ConfigError`` (exit 2) when the settings name a username explicitly and the endpoint
    serves another one's credential."""
    wanted, origin = settings.username, settings.origins.get("username")
    if not wanted or origin is None:
        return
    if origin.startswith("profile ") and settings.profile == DEFAULT_PROFILE:
        return  # not chosen here: see the module's docstring
    if wanted.casefold() == credential.username.casefold():
        return
    raise ConfigError(
        f"the username {wanted!r} (from {origin}) is not the one the endpoint ({where}) serves "
        f"a credential for ({credential.username!r})",
        hint="Use the endpoint of that user, or leave the username unset to take the one served",
    )


def say_ignored(settings: Settings) -> None:
    """One warning for ``--refresh``, which an endpoint's client does not send."""
    if settings.refresh:
        log.warning(
            "endpoint",
            "--refresh is not sent to the endpoint, which refreshes the token by itself (report a "
            "token Salesforce rejected with --rejected-sha256)",
        )


def endpoint_windows(settings: Settings) -> RefreshWindows:
    """The windows a long-lived client (``SalesforceAuth``) judges the served token by.

    The advisory window is ``--min-ttl`` without this host's jitter: the endpoint refreshes at its
    own ``--min-ttl`` stretched by the jitter, so by the time a client with the same setting asks
    again, the endpoint has a new token (or is trying: then the client keeps its own, with one
    warning, as in the advisory window of a cache). The session length is the longest Salesforce
    allows: the endpoint's ``--session-ttl`` decided how long its token lasts.
    """
    from .cache.refresh import RefreshWindows

    return RefreshWindows(
        advisory_seconds=settings.min_ttl_seconds,
        mandatory_seconds=settings.mandatory_ttl_seconds,
        session_ttl_seconds=MAX_SESSION_TTL_SECONDS,
    )


def endpoint_fetch(endpoint: ServerEndpoint, settings: Settings, clock: Clock) -> Fetch:
    """A ``CredentialKeeper``'s ``fetch`` through the endpoint: each call one GET within
    ``--timeout``, compare-and-refresh included, and the identity check."""
    from .deadline import Deadline

    def fetch(rejected_sha256: str | None, current: Credential | None) -> Credential:
        deadline = Deadline(settings.timeout_seconds, clock)
        credential = endpoint.fetch(rejected_sha256=rejected_sha256, deadline=deadline)
        check_identity(settings, credential, endpoint.where)
        return credential

    return fetch
