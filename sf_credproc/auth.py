"""``SalesforceAuth``: a ``requests`` auth that keeps a Salesforce session alive for days.

It sets ``Authorization: Bearer`` and refreshes ahead of expiry by the refresh windows of the
command line, through a ``CredentialKeeper`` (``keeper.py``): in the advisory window the one thread
that notices refreshes while the others go on with the token they have; in the mandatory window,
past expiry or with no token yet, threads wait for the one refresh and share its result. The
refresh goes through the same token cache as the CLI; with ``no_cache=True`` the token held here is
the only one, and it is kept here. The thread that notices refreshes: no background thread, so
nothing outlives a request, a fork copies no worker, and every error reaches a caller.

With ``SF_CREDPROC_SERVER_URL`` or ``SF_CREDPROC_SERVER_SOCKET`` set, the keeper's refresh asks that
running endpoint instead of logging in (``server_use.endpoint_fetch``): no key access is needed,
and the compare-and-refresh below sends ``rejected_sha256`` to the endpoint, which logs in once for
all its clients.

When Salesforce answers 401 ``INVALID_SESSION_ID`` (an admin revoked the session, the session
policy changed) it compares and refreshes (``get --rejected-sha256``): the token cache is asked
for a replacement of the token named by its SHA-256, and replaces it only once Salesforce's
userinfo endpoint confirms it dead, so the threads, ``SalesforceAuth`` objects and processes that
share a cache and see the same dead token cause one login. The request is replayed once with the
new token, as requests' own ``HTTPDigestAuth`` replays after a 401; a second 401 raises
``SessionInvalidError``: no loop. If Salesforce still accepts the token, the 401 had another
cause that a new session would not cure: the answer is handed back as it is, without a login.

The token goes only where the caller sent the request: never over plain http to a host that is
not loopback, and never to another origin after a redirect. requests drops the header when a
redirect changes host, scheme or port (``Session.rebuild_auth``); the 401 hook runs for the
redirected answer too, so it replays only to the origin the token was attached for.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import requests

from .clock import Clock, SystemClock
from .config.host_names import is_loopback_host
from .config.settings import Settings, resolve_keywords
from .credential import Credential
from .errors import ConfigError, SessionInvalidError
from .keeper import CredentialKeeper, keeper_for, token_sha256
from .server_client import ServerEndpoint
from .server_use import NEEDS_NOTHING, endpoint_fetch, endpoint_windows, say_ignored

INVALID_SESSION_ID = "INVALID_SESSION_ID"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def request_origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of ``url`` as urllib3, which connects, reads it (RFC 6454)."""
    from urllib3.util import parse_url

    target = parse_url(url)
    scheme = (target.scheme or "").lower()
    return scheme, (target.host or "").lower(), target.port or _DEFAULT_PORTS.get(scheme)


def is_invalid_session(response: requests.Response) -> bool:
    """True for Salesforce's "Session expired or invalid" answer."""
    if response.status_code != 401:
        return False
    try:
        document = response.json()
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to be Salesforce's
        return False
    entries = document if isinstance(document, list) else [document]
    return any(isinstance(e, dict) and e.get("errorCode") == INVALID_SESSION_ID for e in entries)


class SalesforceAuth(requests.auth.AuthBase):
    """Bearer authentication with a self-refreshing Salesforce session.

    ``SalesforceAuth(profile="prod")``, ``SalesforceAuth(Settings.from_profile("prod"))`` or the
    keyword arguments of ``get_credential``. It reports the tokens it sees rejected itself: a
    ``rejected_sha256`` in its settings (or ``SF_CREDPROC_REJECTED_SHA256``) plays no part.
    """

    def __init__(
        self, settings: Settings | None = None, *, clock: Clock | None = None, **options: Any
    ) -> None:
        environ = options.get("environ")
        endpoint = ServerEndpoint.from_environment(os.environ if environ is None else environ)
        if settings is None:
            needs = NEEDS_NOTHING if endpoint is not None else None
            settings = resolve_keywords(needs=needs, **options)
        # A digest names one token, now; this object lives for days and names its own.
        self._settings = dataclasses.replace(settings, rejected_sha256=None)
        self._clock = clock or SystemClock()
        if endpoint is not None:
            # The endpoint logs in, caches and refreshes; this object asks it again when its token
            # enters the advisory window, and after a 401 (compare-and-refresh).
            say_ignored(self._settings)
            fetch = endpoint_fetch(endpoint, self._settings, self._clock)
            windows = endpoint_windows(self._settings)
            self._keeper = CredentialKeeper(fetch, windows, self._clock)
            return
        # Built once: every refresh goes through the same token cache, login and AWS session, and
        # judged by the windows the token cache judges the same token by.
        self._keeper = keeper_for(self._settings, self._clock, os.environ)

    def __repr__(self) -> str:
        return f"SalesforceAuth(username={self._settings.username!r})"

    @property
    def refreshes(self) -> int:
        """Tokens replaced (ahead of expiry, or after a 401): for tests and metrics."""
        return self._keeper.refreshes

    @property
    def credential(self) -> Credential:
        """The current credential, as the refresh windows allow (``CredentialKeeper.obtain``)."""
        return self._keeper.obtain()

    def _replace(self, rejected_token: str) -> Credential:
        """A new session in place of ``rejected_token``, unless another thread replaced it. The
        same token when Salesforce still accepts it."""
        return self._keeper.obtain(rejected_sha256=token_sha256(rejected_token))

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        origin = request_origin(request.url or "")
        scheme, host, _ = origin
        if scheme != "https" and not is_loopback_host(host.strip("[]")):
            raise ConfigError(
                f"SalesforceAuth will not send the Salesforce token over {scheme or 'no scheme'} "
                f"to {host}: a bearer token travels over https only",
                hint="Use the https instance URL (plain http is allowed only for loopback)",
            )
        request.headers["Authorization"] = f"Bearer {self.credential.access_token}"
        hook = functools.partial(self._on_response, origin=origin)
        request.register_hook("response", hook)  # type: ignore[no-untyped-call]
        return request

    def _on_response(
        self, response: requests.Response, *, origin: tuple[str, str, int | None], **kwargs: Any
    ) -> requests.Response:
        if not is_invalid_session(response):
            return response
        # A redirect may have taken the request elsewhere, and requests dropped the token then:
        # whatever answers there, the token is not sent to it.
        carried = (response.request.headers.get("Authorization") or "").startswith("Bearer ")
        if request_origin(response.request.url or "") != origin or not carried:
            return response
        original = response.request
        if getattr(original, "_sf_credproc_replayed", False):
            raise SessionInvalidError(
                f"Salesforce rejected a fresh session too for {original.method} {original.url} "
                "(401 INVALID_SESSION_ID)",
                hint="Check the user's session settings and IP restrictions; run sf-credproc doctor",
            )
        if original.body is not None and not isinstance(original.body, bytes | str):
            raise SessionInvalidError(
                "Salesforce ended the session, and the request's body is a stream that cannot be "
                "sent twice",
                hint="Send the body as bytes, or retry the request",
            )
        rejected = (original.headers.get("Authorization") or "").removeprefix("Bearer ")
        fresh = self._replace(rejected)
        if fresh.access_token == rejected:
            # Salesforce still accepts the token: a new session would not cure this 401 (a
            # permission, a proxy, another org's URL). The answer stands, as it came.
            return response
        # Release the connection of the rejected answer before replaying (as HTTPDigestAuth does).
        response.content  # noqa: B018 - reading the body frees the connection
        response.close()
        replay = original.copy()
        replay.headers["Authorization"] = f"Bearer {fresh.access_token}"
        replay._sf_credproc_replayed = True  # type: ignore[attr-defined]
        kwargs.pop("stream", None)
        answer = response.connection.send(replay, **kwargs)
        answer.history.append(response)
        answer.request = replay
        if is_invalid_session(answer):
            return self._on_response(answer, origin=origin, **kwargs)  # raises: replayed already
        return answer
