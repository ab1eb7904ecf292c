"""A bounded share of the command's deadline, for an optional tier (the shared cache).

The shared tier is an optimisation: however it fails (a hung DynamoDB call, a lease that is never
released), the command must still have time to log in by itself. So the tier gets at most a fixed
share of what is left when it starts, spent only while the tier works: the clock of the share stops
during the login in between. Each call may take at most half of what is left of the share, so a
call that hangs still leaves time to give the lease back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ..clock import Clock
from ..deadline import Deadline
from ..errors import TransientError

#: The part of the remaining deadline the shared tier may spend, at most.
SHARED_TIER_SHARE = 0.5
#: No call is given less than this (unless less is left): below it, even loopback calls fail.
MIN_CALL_SECONDS = 0.5


class DeadlineShare(Deadline):
    """A ``Deadline`` for ``share`` of what ``overall`` has left, that can be paused; it never
    outlasts ``overall``."""

    def __init__(self, overall: Deadline, clock: Clock, share: float = SHARED_TIER_SHARE) -> None:
        super().__init__(overall.remaining() * share, clock)
        self._overall = overall

    def remaining(self) -> float:
        return min(super().remaining(), self._overall.remaining())

    def exceeded(self, doing: str) -> TransientError:
        return TransientError(
            f"its {self.timeout_seconds:.1f} s share of the deadline ran out while {doing}",
            hint="Retry later, or raise --timeout",
            retryable=False,
        )

    def attempt_budget(self, doing: str) -> float:
        left = self.check(doing)
        return min(left, max(MIN_CALL_SECONDS, left / 2))

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent inside the block (the login) is not taken from the share."""
        started = self._clock.monotonic()
        try:
            yield
        finally:
            self._ends_at += self._clock.monotonic() - started
