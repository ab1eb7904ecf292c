"""``SalesforceAuth``: a ``requests`` auth that keeps a Salesforce session alive for days.

It sets ``Authorization: Bearer`` and refreshes ahead of expiry by the refresh windows of the
command line (``cache/refresh.py``, botocore's ``RefreshableCredentials``): a ``fresh`` token is
used as it is; in the *advisory* window (``--min-ttl``, with this host's jitter) the one thread
that notices refreshes while the others go on with the token they have, and a transient failure
keeps the token (one warning; the next use tries again); in the *mandatory* window
(``--mandatory-ttl``), past expiry or with no token yet, threads wait for the one refresh and
share its result, and a failure raises (except the login rate limit in the mandatory window, as
``refresh.may_keep`` says). The refresh goes through the same token cache as the CLI, which applies
the same table; with ``no_cache=True`` the token held here is the only one, and it is kept here.
The thread that notices refreshes: no background thread, so nothing outlives a request, a fork
copies no worker, and every error reaches a caller.

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
import hashlib
import os
import threading
from concurrent.futures import Future
from typing import Any

import requests

from . import log
from .cache.disk import ADVISORY, EXPIRED, FRESH, this_host
from .cache.refresh import RefreshWindows, may_keep, say_kept
from .clock import Clock, SystemClock
from .compose import CredentialPipeline, cache_identity
from .config.host_names import is_loopback_host
from .config.settings import Settings, resolve_keywords
from .credential import Credential
from .deadline import Deadline
from .errors import ConfigError, SessionInvalidError, TransientError

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


def token_sha256(token: str) -> str:
    """The name of a token for compare-and-refresh (``--rejected-sha256``): its SHA-256 in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class _Refresh:
    """One refresh in progress; the threads that need its result wait for it and share it
    (a failure too: N waiters never turn one failed login into N more)."""

    def __init__(self, rejected: str | None) -> None:
        #: The token this refresh replaces after a 401, or None for a refresh ahead of expiry.
        self.rejected = rejected
        #: The new (or kept) credential; None when the refreshing thread was interrupted (Ctrl-C,
        #: ``SystemExit``): that is no answer for the waiters, who look again.
        self.result: Future[Credential | None] = Future()


class SalesforceAuth(requests.auth.AuthBase):
    """Bearer authentication with a self-refreshing Salesforce session.

    ``SalesforceAuth(profile="prod")``, ``SalesforceAuth(Settings.from_profile("prod"))`` or the
    keyword arguments of ``get_credential``. It reports the tokens it sees rejected itself: a
    ``rejected_sha256`` in its settings (or ``SF_CREDPROC_REJECTED_SHA256``) plays no part.
    """

    def __init__(
        self, settings: Settings | None = None, *, clock: Clock | None = None, **options: Any
    ) -> None:
        settings = settings if settings is not None else resolve_keywords(**options)
        # A digest names one token, now; this object lives for days and names its own.
        self._settings = dataclasses.replace(settings, rejected_sha256=None)
        self._clock = clock or SystemClock()
        # Built once: every refresh goes through the same token cache, login and AWS session.
        self._pipeline = CredentialPipeline(self._settings, clock=self._clock, environ=os.environ)
        # The windows the token cache judges the same token by (this host's jitter included).
        self._windows = RefreshWindows.of(
            min_ttl_seconds=self._settings.min_ttl_seconds,
            mandatory_ttl_seconds=self._settings.mandatory_ttl_seconds,
            session_ttl_seconds=self._settings.session_ttl_seconds,
            identity_stem=cache_identity(self._settings).file_stem,
            host=this_host(),
        )
        #: Guards ``_credential`` and ``_refresh``, never held while Salesforce is asked.
        self._lock = threading.Lock()
        self._credential: Credential | None = None
        self._refresh: _Refresh | None = None
        #: Tokens replaced (ahead of expiry, or after a 401): for tests and metrics.
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"SalesforceAuth(username={self._settings.username!r})"

    @property
    def credential(self) -> Credential:
        """The current credential, as the refresh windows allow: ``fresh`` → as it is; advisory
        → refreshed by this thread unless another one is refreshing it (then as it is); mandatory,
        expired or none yet → after the refresh in progress, or this thread's own."""
        return self._obtain(rejected=None)

    def _replace(self, rejected_token: str) -> Credential:
        """A new session in place of ``rejected_token``, unless another thread replaced it. The
        same token when Salesforce still accepts it."""
        return self._obtain(rejected=rejected_token)

    def _state(self, credential: Credential | None) -> str:
        if credential is None:
            return EXPIRED
        return self._windows.state(credential.expiration, self._clock.time())

    def _obtain(self, *, rejected: str | None) -> Credential:
        while True:
            with self._lock:
                current, refresh = self._credential, self._refresh
                if current is not None and rejected is not None:
                    if current.access_token != rejected:
                        return current  # another thread replaced it already
                elif current is not None:
                    state = self._state(current)
                    if state == FRESH or (state == ADVISORY and refresh is not None):
                        return current  # valid; or another thread is refreshing it
                if refresh is None:
                    self._refresh = refresh = _Refresh(rejected)
                    break
            credential = refresh.result.result()  # raises the refresh's error
            if credential is None:
                continue
            if rejected is None or credential.access_token != rejected:
                return credential
            if refresh.rejected == rejected:
                return credential  # Salesforce still accepts it
            # A refresh ahead of expiry kept the token this thread saw rejected: report it.
        return self._run(refresh, current)

    def _run(self, refresh: _Refresh, current: Credential | None) -> Credential:
        """Refresh (this thread won the race), publish the result, wake the waiters."""
        try:
            credential = self._fetch(refresh.rejected, current)
        except BaseException as error:
            with self._lock:
                self._refresh = None
            if isinstance(error, Exception):
                refresh.result.set_exception(error)
            else:
                refresh.result.set_result(None)
            raise
        with self._lock:
            if current is not None and credential.access_token != current.access_token:
                self.refreshes += 1
            self._credential = credential
            self._refresh = None
        refresh.result.set_result(credential)
        return credential

    def _fetch(self, rejected: str | None, current: Credential | None) -> Credential:
        """A token from the pipeline; the current one when ``refresh.may_keep`` allows keeping it
        after a failure (the cache keeps its own entry; this is for ``no_cache`` and an entry
        removed meanwhile)."""
        # No cache to compare with: the token held here is the one to confirm dead.
        no_cache = self._settings.no_cache
        if rejected is not None and no_cache and current and not self._is_dead(current):
            _say_still_accepted()
            return current
        try:
            digest = token_sha256(rejected) if rejected is not None else None
            return self._pipeline.obtain(rejected_sha256=digest).credential
        except TransientError as error:
            state = self._state(current)
            if rejected is not None or current is None or not may_keep(state, error):
                raise
            say_kept(state, error, current, self._clock)
            return current

    def _is_dead(self, credential: Credential) -> bool:
        """Salesforce's verdict on a token (``oauth/userinfo.py``), within one ``--timeout``."""
        from .oauth.userinfo import confirm_dead  # requests: loaded on a 401 only

        deadline = Deadline(self._settings.timeout_seconds, self._clock)
        return confirm_dead(
            credential, deadline=deadline, ca_bundle=self._settings.ca_bundle, clock=self._clock
        )

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


def _say_still_accepted() -> None:
    log.warning(
        "compare-and-refresh",
        "Salesforce still accepts the token answered with 401 INVALID_SESSION_ID (its userinfo "
        "endpoint answered 200): the 401 had another cause; keeping the token, without a login",
    )
