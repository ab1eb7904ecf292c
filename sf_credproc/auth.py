"""``SalesforceAuth``: a ``requests`` auth that keeps a Salesforce session alive for days.

It sets ``Authorization: Bearer``, refreshes ahead of expiry (through the same cache as the CLI, so
``--min-ttl`` applies), and when Salesforce ends a session early (an admin revoked it, the session
policy changed) and answers 401 ``INVALID_SESSION_ID``, it gets a new token once and replays the
request once, as requests' own ``HTTPDigestAuth`` replays after a 401. A second 401 raises
``SessionInvalidError``: no loop. Threads share one instance safely: a revoked token is replaced
by whichever thread notices first, and the others reuse the replacement.

The token goes only where the caller sent the request: never over plain http to a host that is
not loopback, and never to another origin after a redirect. requests drops the header when a
redirect changes host, scheme or port (``Session.rebuild_auth``); the 401 hook runs for the
redirected answer too, so it replays only to the origin the token was attached for.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

import requests

from .cache.disk import is_fresh
from .clock import Clock, SystemClock
from .compose import CredentialPipeline
from .config.host_names import is_loopback_host
from .config.settings import Settings, resolve_keywords
from .credential import Credential
from .errors import ConfigError, SessionInvalidError

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
    keyword arguments of ``get_credential``.
    """

    def __init__(
        self, settings: Settings | None = None, *, clock: Clock | None = None, **options: Any
    ) -> None:
        self._settings = settings if settings is not None else resolve_keywords(**options)
        self._clock = clock or SystemClock()
        # Built once: every refresh goes through the same token cache, login and AWS session.
        self._pipeline = CredentialPipeline(self._settings, clock=self._clock, environ=os.environ)
        self._lock = threading.Lock()
        self._credential: Credential | None = None
        #: Logins (or cache reads) made to replace a token: for tests and metrics.
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"SalesforceAuth(username={self._settings.username!r})"

    @property
    def credential(self) -> Credential:
        """The current credential, replaced first when no longer fresh (``disk.is_fresh``:
        the advisory window, ``min_ttl``, reached)."""
        settings = self._settings
        with self._lock:
            current = self._credential
            if current is None or not is_fresh(
                current.expiration,
                self._clock.time(),
                settings.min_ttl_seconds,
                settings.session_ttl_seconds,
            ):
                self._credential = current = self._pipeline.obtain().credential
            return current

    def _replace(self, rejected_token: str) -> Credential:
        """A new session in place of ``rejected_token``, unless another thread replaced it."""
        with self._lock:
            current = self._credential
            if current is None or current.access_token == rejected_token:
                self._credential = current = self._pipeline.obtain(refresh=True).credential
                self.refreshes += 1
            return current

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
