"""``SinkAgent``: every sink in step with the credential a ``CredentialKeeper`` holds.

A ``BackgroundRefresher`` logs in at start and again in the advisory window, retrying with backoff
when Salesforce fails (``refresher.py``); each new credential is written to every sink
(``sink_writer.write_atomically``). While no new credential comes, a sink keeps the token it has
as long as that token is valid. Once it has expired and still no new one could be obtained, the
sink is *removed*, with one warning: a consumer that finds no file knows it has no credential,
whereas one that finds an expired token would send it and read the 401 as some other failure (a
consumer is not required to read ``Expiration``). The sink is written again after the next
successful login.

Writes happen under one lock, from the refresher's thread (a new credential) or from the thread
that runs the agent (its poll: a retry of a failed write, the expiry check); ``close`` takes the
lock last, so the process never ends in the middle of a write and leaves no temporary file.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence

from .. import log
from ..clock import Clock
from ..credential import Credential, format_rfc3339
from ..errors import ConfigError
from ..formats import render
from ..keeper import CredentialKeeper
from ..refresher import BackgroundRefresher
from .sink_spec import SinkSpec
from .sink_writer import remove_sink, write_atomically


def sink_content(credential: Credential, sink_format: str) -> bytes:
    """What a sink of ``sink_format`` holds: the versioned JSON, the token and a newline, or the
    shell-quoted ``export`` lines of ``--format env`` (for ``source``)."""
    if sink_format == "token":
        return (credential.access_token + "\n").encode("utf-8")
    return render(credential, sink_format).encode("utf-8")


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _same(a: Credential | None, b: Credential | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.access_token == b.access_token and a.expiration == b.expiration


class SinkAgent:
    """Writes every credential ``keeper`` obtains to ``sinks``, until ``close``."""

    def __init__(
        self,
        sinks: Sequence[SinkSpec],
        keeper: CredentialKeeper,
        clock: Clock,
        *,
        poll_seconds: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self._sinks = list(sinks)
        #: The credential held (its ``held`` is what the next write writes).
        self.keeper = keeper
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._lock = threading.Lock()
        #: Notified after every change of a sink (for whoever waits for one: tests, ``--once``).
        self.changed = threading.Condition(self._lock)
        #: The newest credential obtained, and what each sink holds now (None: nothing of ours).
        self._latest: Credential | None = None
        self._on_disk: dict[str, Credential | None] = {sink.path: None for sink in self._sinks}
        #: Sinks whose failed write was said already (one warning per sink until it succeeds).
        self._warned: set[str] = set()
        self._closed = False
        #: Files written and removed: for tests and metrics.
        self.writes = 0
        self.removals = 0
        self.refresher = BackgroundRefresher(
            keeper, clock, on_credential=self.offer, poll_seconds=poll_seconds, rng=rng
        )

    def __repr__(self) -> str:
        return f"SinkAgent(sinks={[sink.path for sink in self._sinks]!r})"

    def offer(self, credential: Credential) -> None:
        """A new credential: write it to every sink (the refresher's ``on_credential``)."""
        with self._lock:
            self._latest = credential
            self._sync(strict=False)

    def write_once(self) -> Credential:
        """``--once``: obtain (errors as ``get``'s) and write every sink; a sink that cannot be
        written raises ``ConfigError`` (exit 2)."""
        credential = self.keeper.obtain()
        with self._lock:
            self._latest = credential
            self._sync(strict=True)
        return credential

    def run(self, stop: threading.Event) -> None:
        """Keep the sinks fresh until ``stop`` is set; then ``close``."""
        self.refresher.start()
        try:
            while not stop.wait(self._poll_seconds):
                with self._lock:
                    self._sync(strict=False)
        finally:
            self.close()

    def close(self) -> None:
        """Stop refreshing; once a write in progress has finished, write nothing more."""
        self.refresher.stop()
        with self._lock:
            self._closed = True

    def wait_for(self, predicate: Callable[[], bool], timeout_seconds: float) -> bool:
        """Wait until ``predicate`` (called under the lock) holds; False after the timeout."""
        with self.changed:
            return self.changed.wait_for(predicate, timeout_seconds)

    def _sync(self, *, strict: bool) -> None:
        """Under the lock: write the newest valid credential where it is missing, remove an
        expired one where nothing valid replaces it."""
        if self._closed:
            return
        now = self._clock.time()
        latest = self._latest
        for sink in self._sinks:
            on_disk = self._on_disk[sink.path]
            valid = latest is not None and latest.expiration > now
            if valid and latest is not None and not _same(on_disk, latest):
                # A write that failed leaves the old file: judged below like any other.
                written = self._write(sink, latest, strict=strict)
                if written:
                    continue
            if on_disk is not None and on_disk.expiration <= now:
                self._remove(sink, on_disk)

    def _write(self, sink: SinkSpec, credential: Credential, *, strict: bool) -> bool:
        try:
            write_atomically(sink.path, sink_content(credential, sink.format), sink.mode)
        except (ConfigError, OSError) as error:
            problem = error.message if isinstance(error, ConfigError) else _reason(error)
            if strict:
                raise ConfigError(
                    f"cannot write --sink {sink.path} ({problem})",
                    hint="Check the path, the directory's permissions and the free space",
                ) from None
            if sink.path not in self._warned:
                self._warned.add(sink.path)
                log.warning(
                    "sink",
                    f"cannot write {sink.path} ({problem}); retrying every "
                    f"{self._poll_seconds:g} s, the file keeps what it held",
                    path=sink.path,
                )
            return False
        self._warned.discard(sink.path)
        self._on_disk[sink.path] = credential
        self.writes += 1
        self.changed.notify_all()
        expiration = format_rfc3339(credential.expiration)
        log.info(
            "sink",
            f"wrote {sink.path} ({sink.format}), token {log.fingerprint(credential.access_token)}"
            f", expires {expiration}",
            path=sink.path,
            format=sink.format,
            expiration=expiration,
            token=log.fingerprint(credential.access_token),
        )
        return True

    def _remove(self, sink: SinkSpec, expired: Credential) -> None:
        try:
            removed = remove_sink(sink.path)
        except OSError as error:
            log.warning("sink", f"cannot remove {sink.path} ({_reason(error)})", path=sink.path)
            return
        self._on_disk[sink.path] = None
        self.removals += 1
        self.changed.notify_all()
        if removed:
            log.warning(
                "sink",
                f"the token in {sink.path} expired at {format_rfc3339(expired.expiration)} and no "
                "new one could be obtained: removed the file (an expired token is no credential); "
                "it is written again after the next successful login",
                path=sink.path,
                expiration=format_rfc3339(expired.expiration),
            )
