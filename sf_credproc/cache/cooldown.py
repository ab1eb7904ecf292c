"""The login-rate circuit breaker: after "login rate exceeded", no login for that user for a while.

Salesforce allows 3,600 logins per user per hour and answers ``invalid_grant`` / "login rate
exceeded" beyond that (Salesforce Help, "Monitor Login History"; the limit is per user, across
every app and machine). A process that keeps logging in only keeps the limit reached: a fleet in
which every consumer logs in again after a 401 stays locked out. So the first process to hear
"login rate exceeded" records a *cool-down*, and during it no login is attempted for that user at
that token host: ``get`` serves a still-valid cached token (``refresh.py``) or fails at once with
exit 5 and the time left (``errors.CoolingDown``), making no request to Salesforce. The circuit
breaker of "Release It!" (open, then closed again by time alone), with the length set by
``--rate-limit-cooldown`` (0: no breaker).

**The local record**, ``<sha256 of token host and username>.cooldown`` (0600) beside the cache
entries, is one line: ``sf-credproc-cooldown/1 <began> <ends>`` (Unix seconds). A record that is
malformed, not ours (``disk.read_private_file``'s checks), already over, or ending later than now +
the cool-down (written under a longer setting, or tampered with) is ignored: a breaker that can be
held open forever would be a way to stop every login. With a shared cache the same record lives in
the table too (``shared_cooldown.py``), so one machine's "login rate exceeded" rests the fleet.

Recording and reading are best effort: a record that cannot be written or read only weakens the
breaker, so it never fails a command by itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit

from .. import log
from ..clock import Clock
from ..credential import format_rfc3339
from ..errors import ConfigError, CoolingDown
from .disk import ensure_private_directory, read_private_file, write_private_file
from .shared_errors import SharedCacheUnavailable

COOLDOWN_SUFFIX = ".cooldown"
COOLDOWN_MAGIC = b"sf-credproc-cooldown/1"


def token_host(token_endpoint: str) -> str:
    """The host (and port, if any) of a token endpoint: where the user's logins are counted."""
    return urlsplit(token_endpoint).netloc.lower()


def cooldown_stem(host: str, username: str) -> str:
    """The SHA-256 naming the record of one user at one token host (file name and item id)."""
    canonical = json.dumps([host, username], separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class CoolDown(NamedTuple):
    """A cool-down: when it began and when it ends (whole Unix seconds)."""

    began: int
    ends: int

    def seconds_left(self, now: float) -> int:
        """Whole seconds left, rounded up (never 0 while it lasts)."""
        left = self.ends - now
        whole = int(left)
        return whole if whole == left else whole + 1

    def holds(self, now: float, cooldown_seconds: int) -> bool:
        """True while it lasts, and only if it ends no later than a cool-down begun now would:
        a record that reaches further was written under a longer setting, or tampered with."""
        return self.began <= self.ends and now < self.ends <= now + cooldown_seconds


def parse_record(data: bytes) -> CoolDown | None:
    """The cool-down a record's bytes hold; None when they are not a record of this version."""
    fields = data.rstrip(b"\n").split(b" ")
    if len(fields) != 3 or fields[0] != COOLDOWN_MAGIC:
        return None
    if not (fields[1].isdigit() and fields[2].isdigit()):
        return None
    return CoolDown(int(fields[1]), int(fields[2]))


def encode_record(cooldown: CoolDown) -> bytes:
    return b"%s %d %d\n" % (COOLDOWN_MAGIC, cooldown.began, cooldown.ends)


class LocalCoolDowns:
    """The records in one cache directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def path(self, stem: str) -> str:
        return os.path.join(self.directory, stem + COOLDOWN_SUFFIX)

    def read(self, stem: str) -> CoolDown | None:
        """The record, if it is a readable record of ours; whether it holds is the caller's."""
        data = read_private_file(self.path(stem), limit=256)
        return parse_record(data) if data is not None else None

    def write(self, stem: str, cooldown: CoolDown) -> bool:
        """Record ``cooldown`` (atomically, 0600); False when it cannot be written."""
        try:
            ensure_private_directory(self.directory)
            write_private_file(self.directory, stem + COOLDOWN_SUFFIX, encode_record(cooldown))
        except (OSError, ConfigError):
            return False
        return True

    def delete(self, stem: str) -> bool:
        """Remove the record; True if there was one."""
        try:
            os.unlink(self.path(stem))
        except FileNotFoundError:
            return False
        except OSError as error:
            raise ConfigError(
                f"cannot remove {self.path(stem)} ({error.strerror})",
                hint="Check the cache directory's permissions",
            ) from error
        return True

    def clear(self) -> int:
        """Remove every record (``cache clear --all``); returns how many were removed."""
        try:
            names = [name for name in os.listdir(self.directory) if name.endswith(COOLDOWN_SUFFIX)]
        except OSError:
            return 0
        removed = 0
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.directory, name))
                removed += 1
        return removed


class CoolDownRecordRefused(SharedCacheUnavailable):
    """Raised when the shared tier's record is there but cannot be trusted (it does not decrypt
    under its context, or is malformed): ignored, with a warning."""


class SharedCoolDownStore(Protocol):
    """The records in the shared tier (``shared_cooldown.SharedCoolDowns``); every method raises
    ``SharedCacheUnavailable`` when the tier cannot be used or the record cannot be trusted."""

    where: str

    def read(self, stem: str) -> CoolDown | None: ...

    def write(self, stem: str, cooldown: CoolDown) -> None: ...

    def delete(self, stem: str) -> bool: ...


class LoginBreaker:
    """The breaker of one user at one token host: asked before every login, tripped by
    "login rate exceeded", ended by ``cache clear``. ``open_shared`` opens the shared tier's
    records when a shared cache is configured (only when needed: it loads botocore)."""

    def __init__(
        self,
        *,
        directory: str,
        clock: Clock,
        cooldown_seconds: int,
        token_endpoint: str,
        username: str,
        open_shared: Callable[[], SharedCoolDownStore] | None = None,
    ) -> None:
        self.clock = clock
        self.cooldown_seconds = cooldown_seconds
        self.host = token_host(token_endpoint)
        self.username = username
        self.stem = cooldown_stem(self.host, username)
        self.local = LocalCoolDowns(directory)
        self._open_shared = open_shared
        self._shared: SharedCoolDownStore | None = None

    @property
    def enabled(self) -> bool:
        return self.cooldown_seconds > 0

    def active(self, *, shared: bool = True) -> tuple[CoolDown, str] | None:
        """The cool-down in force and where it was recorded (``this machine`` or the table),
        or None. The local record is read first; the shared one only when there is none."""
        if not self.enabled:
            return None
        now = self.clock.time()
        found = self.local.read(self.stem)
        if found is not None and found.holds(now, self.cooldown_seconds):
            return found, "on this machine"
        if found is not None and found.ends > now:
            log.info(
                "cooldown", f"cooldown: ignoring {self.local.path(self.stem)}: it ends too late"
            )
        if not shared or self._open_shared is None:
            return None
        try:
            store = self._store()
            found = store.read(self.stem)
        except CoolDownRecordRefused as problem:
            log.warning(
                "cooldown",
                f"the login-rate cool-down record in the shared cache is refused ({problem}); "
                "ignoring it",
            )
            return None
        except SharedCacheUnavailable as problem:
            _unavailable(problem, "read")
            return None
        if found is None:
            return None
        if not found.holds(self.clock.time(), self.cooldown_seconds):
            if found.ends > now:
                log.warning(
                    "cooldown",
                    f"the login-rate cool-down record in {store.where} ends later than "
                    f"--rate-limit-cooldown ({self.cooldown_seconds} s) allows; ignoring it",
                )
            return None
        return found, f"in {store.where}"

    def check(self) -> None:
        """Raise ``CoolingDown`` (exit 5, the time left) while a cool-down lasts."""
        found = self.active()
        if found is None:
            return
        cooldown, where = found
        left = cooldown.seconds_left(self.clock.time())
        raise CoolingDown(
            f"no login for {self.username} at {self.host} for {left} s more: Salesforce answered "
            f'"login rate exceeded" (a cool-down recorded {where}, until '
            f"{format_rfc3339(cooldown.ends)})",
            seconds_left=left,
            hint=COOLDOWN_HINT,
        )

    def trip(self) -> CoolDown | None:
        """Record a cool-down beginning now, here and in the shared tier (best effort)."""
        if not self.enabled:
            return None
        began = int(self.clock.time())
        cooldown = CoolDown(began, began + self.cooldown_seconds)
        if not self.local.write(self.stem, cooldown):
            log.warning(
                "cooldown",
                f"the login-rate cool-down could not be recorded in {self.local.directory}",
            )
        if self._open_shared is not None:
            try:
                self._store().write(self.stem, cooldown)
            except SharedCacheUnavailable as problem:
                _unavailable(problem, "recorded")
        log.info(
            "cooldown",
            f"cooldown: no login for {self.username} at {self.host} until "
            f"{format_rfc3339(cooldown.ends)}",
        )
        return cooldown

    def end(self) -> bool:
        """End the cool-down here and in the shared tier (``cache clear``). True if either held a
        record; one that cannot be deleted ends by itself."""
        removed = self.local.delete(self.stem)
        if self._open_shared is not None:
            try:
                removed = self._store().delete(self.stem) or removed
            except SharedCacheUnavailable as problem:
                _unavailable(problem, "deleted")
        return removed

    def _store(self) -> SharedCoolDownStore:
        if self._shared is None:
            if self._open_shared is None:
                raise SharedCacheUnavailable("no shared cache is configured")
            self._shared = self._open_shared()
        return self._shared


def _unavailable(problem: SharedCacheUnavailable, could_not: str) -> None:
    """A table that cannot be reached is said once, by the token cache's own warning (or
    ``cache clear``'s); the breaker only adds a progress line: the record ends by itself."""
    log.info(
        "cooldown",
        f"cooldown: the shared cache's record could not be {could_not} ({problem}); "
        "going on with this machine's record",
    )


COOLDOWN_HINT = (
    "Retry when it ends ('sf-credproc cache clear' with the same options as get ends it early); "
    "--rate-limit-cooldown (SF_CREDPROC_RATE_LIMIT_COOLDOWN) sets its length, 0 turns it off"
)
