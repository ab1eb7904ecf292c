"""``BackgroundRefresher``: keeps a ``CredentialKeeper`` fresh from one daemon thread.

The long-running modes (``serve``, ``exec --server``, ``agent``) answer from memory; this thread
logs in at start, then again when the held token enters the advisory window (Vault Agent's auto-auth
renews ahead of expiry the same way), so that no consumer waits for Salesforce. A failed refresh is
retried with capped, jittered exponential backoff (AWS's "Exponential Backoff and Jitter"), while
the keeper goes on serving the token as ``refresh.may_keep`` allows; a consumer that arrives in the
mandatory window or past expiry joins the refresh in progress instead (single flight).

It reads the time from the ``Clock`` seam and wakes at least every ``poll_seconds``: a test moves a
fake clock into the advisory window and the refresh follows within one poll, with no sleeping.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from . import log
from .cache.disk import FRESH
from .clock import Clock
from .credential import Credential
from .errors import CredProcError, InternalError
from .keeper import CredentialKeeper

#: The first retry after a failed refresh, and the longest wait between two retries.
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0


def retry_delay_seconds(failures: int, rng: random.Random) -> float:
    """Equal-jitter backoff after ``failures`` failed refreshes in a row: half of the capped
    exponential, plus a random half (fleets do not retry in step)."""
    ceiling = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2.0 ** max(0, failures - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class BackgroundRefresher:
    """Refreshes ``keeper`` ahead of expiry until ``stop()``.

    ``on_credential`` is called (from this thread) with every credential that replaces the one
    before; ``on_failure`` with every failed refresh, after the warning line.
    """

    def __init__(
        self,
        keeper: CredentialKeeper,
        clock: Clock,
        *,
        on_credential: Callable[[Credential], None] | None = None,
        on_failure: Callable[[CredProcError], None] | None = None,
        poll_seconds: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self._keeper = keeper
        self._clock = clock
        self._on_credential = on_credential
        self._on_failure = on_failure
        self._poll_seconds = poll_seconds
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: Credential | None = None
        #: Wall time before which no retry is made after a failure.
        self._retry_at = 0.0
        self.failures = 0
        #: Set once a credential has been obtained (``/healthz``, ``agent --once``).
        self.obtained = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sf-credproc-refresh", daemon=True)
        self._thread.start()

    def stop(self, timeout_seconds: float = 5.0) -> None:
        """Stop the thread; a refresh in progress finishes within its own ``--timeout``."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_seconds)

    def wake(self) -> None:
        """Look again now (after ``CredentialKeeper.replace_fetch``), backoff forgotten."""
        self._retry_at = 0.0
        self._wake.set()

    def run_once(self) -> bool:
        """One refresh if one is due and no backoff holds it; True when a credential is held."""
        keeper = self._keeper
        due = keeper.held is None or keeper.state() != FRESH
        if due and self._clock.time() >= self._retry_at:
            self._refresh()
        return keeper.held is not None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._wake.wait(self._poll_seconds)
            self._wake.clear()

    def _refresh(self) -> None:
        try:
            credential = self._keeper.obtain()
        except CredProcError as error:
            self._failed(error)
            return
        except Exception as error:  # noqa: BLE001 - a bug must not end the refreshing for good
            self._failed(InternalError(f"internal error ({type(error).__name__}); this is a bug"))
            return
        self.obtained.set()
        if self._keeper.state(credential) != FRESH:
            # A token kept after a failed refresh (refresh.may_keep said the warning): try again
            # later, not at the next poll.
            self.failures += 1
            self._retry_at = self._clock.time() + retry_delay_seconds(self.failures, self._rng)
        else:
            self.failures = 0
            self._retry_at = 0.0
        if credential is not self._last:
            self._last = credential
            if self._on_credential is not None:
                self._on_credential(credential)

    def _failed(self, error: CredProcError) -> None:
        self.failures += 1
        delay = retry_delay_seconds(self.failures, self._rng)
        self._retry_at = self._clock.time() + delay
        log.warning(
            "refresh",
            f"refresh failed ({error.message}); retrying in {delay:.0f} s",
            exit_code=int(error.exit_status),
            error=type(error).__name__,
            retry_seconds=round(delay, 1),
        )
        if self._on_failure is not None:
            self._on_failure(error)
