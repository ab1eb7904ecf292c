"""``CredentialKeeper``: one credential held in memory, refreshed by the refresh windows.

What ``SalesforceAuth``, ``serve`` and ``agent`` share: the credential a long-lived process holds,
judged by the windows of the command line (``cache/refresh.py``, botocore's
``RefreshableCredentials``). A ``fresh`` token is used as it is; in the *advisory* window the one
caller that notices refreshes while the others go on with the token they have, and a transient
failure keeps the token (``refresh.may_keep``); in the *mandatory* window, past expiry or with no
token yet, callers wait for the one refresh and share its result (a failure too: N waiters never
turn one failed login into N more).

Compare-and-refresh (``get --rejected-sha256``): ``obtain(rejected_sha256=...)`` names the token a
consumer saw answered 401 ``INVALID_SESSION_ID`` by its SHA-256. When the token held is another one,
it was replaced already and is returned; otherwise one refresh asks the token cache for a
replacement, which replaces it only once Salesforce confirms it dead. So the threads, servers and
processes that share a cache and see the same dead token cause one login.

The keeper never starts a thread: whoever calls refreshes (``refresher.py`` is the background
caller of ``serve`` and ``agent``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING

from . import log
from .cache.disk import ADVISORY, EXPIRED, FRESH
from .cache.refresh import RefreshWindows, may_keep, say_kept
from .clock import Clock
from .credential import Credential
from .errors import TransientError

if TYPE_CHECKING:
    from .compose import CredentialPipeline
    from .config.settings import Settings

#: Obtains a credential: ``fetch(rejected_sha256, current)``. ``rejected_sha256`` names the
#: token to replace after a 401 (None: a refresh ahead of expiry); ``current`` is the token held.
Fetch = Callable[[str | None, Credential | None], Credential]


def token_sha256(token: str) -> str:
    """The name of a token for compare-and-refresh (``--rejected-sha256``): its SHA-256 in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class _Refresh:
    """One refresh in progress; the callers that need its result wait for it and share it."""

    def __init__(self, rejected_sha256: str | None) -> None:
        #: The token this refresh replaces after a 401, or None for a refresh ahead of expiry.
        self.rejected_sha256 = rejected_sha256
        #: The new (or kept) credential; None when the refreshing thread was interrupted (Ctrl-C,
        #: ``SystemExit``): that is no answer for the waiters, who look again.
        self.result: Future[Credential | None] = Future()


class CredentialKeeper:
    """The credential of one identity, held in memory and refreshed by ``fetch``."""

    def __init__(self, fetch: Fetch, windows: RefreshWindows, clock: Clock) -> None:
        self._fetch = fetch
        self._windows = windows
        self._clock = clock
        #: Guards ``_credential`` and ``_refresh``; never held while Salesforce is asked.
        self._lock = threading.Lock()
        self._credential: Credential | None = None
        self._refresh: _Refresh | None = None
        #: Tokens replaced by another one (ahead of expiry, or after a 401): for tests and metrics.
        self.refreshes = 0

    def __repr__(self) -> str:
        held = self._credential
        return f"CredentialKeeper(username={held.username if held else None!r})"

    @property
    def windows(self) -> RefreshWindows:
        return self._windows

    @property
    def held(self) -> Credential | None:
        """The credential held now, whatever its state (no refresh)."""
        return self._credential

    def state(self, credential: Credential | None = None) -> str:
        """The refresh state of ``credential`` (default: the one held); ``expired`` for none."""
        credential = credential if credential is not None else self._credential
        if credential is None:
            return EXPIRED
        return self._windows.state(credential.expiration, self._clock.time())

    def servable(self) -> Credential | None:
        """The credential held, when it may be served without waiting for a refresh (fresh, or
        in the advisory window); None when a caller must ``obtain()``. Never blocks."""
        credential = self._credential
        if credential is not None and self.state(credential) in (FRESH, ADVISORY):
            return credential
        return None

    def advisory_starts_at(self) -> float | None:
        """The wall time at which the credential held enters the advisory window (None: none
        held). A background refresher sleeps until then."""
        credential = self._credential
        if credential is None:
            return None
        return float(credential.expiration - self._windows.advisory_seconds)

    def replace_fetch(self, fetch: Fetch, windows: RefreshWindows, *, forget: bool) -> None:
        """Obtain through ``fetch`` from now on (``serve`` re-read its configuration); ``forget``
        drops the credential held (the identity changed: it is another user's token)."""
        with self._lock:
            self._fetch, self._windows = fetch, windows
            if forget:
                self._credential = None

    def obtain(self, *, rejected_sha256: str | None = None) -> Credential:
        """The credential as the refresh windows allow: ``fresh`` → as it is; advisory →
        refreshed by this caller unless another one is refreshing it (then as it is); mandatory,
        expired or none yet → after the refresh in progress, or this caller's own.

        With ``rejected_sha256``: the held token when it is another one than the rejected token,
        else the replacement of the refresh that reports it (the same token when Salesforce still
        accepts it)."""
        while True:
            with self._lock:
                current, refresh = self._credential, self._refresh
                if current is not None and rejected_sha256 is not None:
                    if token_sha256(current.access_token) != rejected_sha256:
                        return current  # replaced already
                elif current is not None:
                    state = self.state(current)
                    if state == FRESH or (state == ADVISORY and refresh is not None):
                        return current  # valid; or another caller is refreshing it
                if refresh is None:
                    self._refresh = refresh = _Refresh(rejected_sha256)
                    break
            credential = refresh.result.result()  # raises the refresh's error
            if credential is None:
                continue
            if rejected_sha256 is None:
                return credential
            if token_sha256(credential.access_token) != rejected_sha256:
                return credential
            if refresh.rejected_sha256 == rejected_sha256:
                return credential  # Salesforce still accepts it
            # A refresh ahead of expiry kept the token this caller saw rejected: report it.
        return self._run(refresh, current)

    def _run(self, refresh: _Refresh, current: Credential | None) -> Credential:
        """Refresh (this caller won the race), publish the result, wake the waiters."""
        try:
            credential = self._fetch_or_keep(refresh.rejected_sha256, current)
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

    def _fetch_or_keep(self, rejected_sha256: str | None, current: Credential | None) -> Credential:
        """A credential from ``fetch``; the current one when ``refresh.may_keep`` allows keeping
        it after a failure (one warning, ``refresh.say_kept``)."""
        try:
            return self._fetch(rejected_sha256, current)
        except TransientError as error:
            state = self.state(current)
            if rejected_sha256 is not None or current is None or not may_keep(state, error):
                raise
            say_kept(state, error, current, self._clock)
            return current


def windows_for(settings: Settings, *, host: str | None = None) -> RefreshWindows:
    """The windows the token cache judges the settings' identity's tokens by on ``host`` (this
    machine by default: its jitter included), so that the keeper and the cache agree."""
    from .cache.disk import this_host
    from .compose import cache_identity

    return RefreshWindows.of(
        min_ttl_seconds=settings.min_ttl_seconds,
        mandatory_ttl_seconds=settings.mandatory_ttl_seconds,
        session_ttl_seconds=settings.session_ttl_seconds,
        identity_stem=cache_identity(settings).file_stem,
        host=host or this_host(),
    )


def keeper_for(
    settings: Settings, clock: Clock, environ: Mapping[str, str], *, host: str | None = None
) -> CredentialKeeper:
    """The keeper of the settings' identity, fetching through the command line's pipeline (both
    cache tiers, the circuit breaker, the login) and judging by ``windows_for``."""
    from .compose import CredentialPipeline

    pipeline = CredentialPipeline(settings, clock=clock, environ=environ, host=host)
    return CredentialKeeper(
        pipeline_fetch(pipeline, clock), windows_for(settings, host=host), clock
    )


def pipeline_fetch(pipeline: CredentialPipeline, clock: Clock) -> Fetch:
    """``Fetch`` through the command line's pipeline (the token cache in front of the login).

    With ``--no-cache`` there is no cache to compare with: the token held is the one to confirm
    dead (Salesforce's userinfo endpoint) before a login replaces it.
    """

    def fetch(rejected_sha256: str | None, current: Credential | None) -> Credential:
        settings = pipeline.settings
        confirm = rejected_sha256 is not None and settings.no_cache and current is not None
        if confirm and current and not _is_dead(current, settings, clock):
            _say_still_accepted()
            return current
        return pipeline.obtain(rejected_sha256=rejected_sha256).credential

    return fetch


def _is_dead(credential: Credential, settings: Settings, clock: Clock) -> bool:
    """Salesforce's verdict on a token (``oauth/userinfo.py``), within one ``--timeout``."""
    from .deadline import Deadline
    from .oauth.userinfo import confirm_dead  # requests: loaded on a 401 only

    deadline = Deadline(settings.timeout_seconds, clock)
    return confirm_dead(credential, deadline=deadline, ca_bundle=settings.ca_bundle, clock=clock)


def _say_still_accepted() -> None:
    log.warning(
        "compare-and-refresh",
        "Salesforce still accepts the token answered with 401 INVALID_SESSION_ID (its userinfo "
        "endpoint answered 200): the 401 had another cause; keeping the token, without a login",
    )
