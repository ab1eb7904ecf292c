"""One overall deadline for a command (``--timeout``), from which every network timeout is cut."""

from __future__ import annotations

from .clock import Clock
from .errors import TransientError

#: A connection that takes longer than this to establish is not going to succeed; the rest of the
#: budget is better spent reading the answer.
MAX_CONNECT_SECONDS = 10.0
MIN_ATTEMPT_SECONDS = 2.0


class Deadline:
    """The moment by which the whole command must have finished."""

    def __init__(self, timeout_seconds: float, clock: Clock) -> None:
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self._ends_at = clock.monotonic() + timeout_seconds

    def now(self) -> float:
        """The deadline's own (monotonic) clock."""
        return self._clock.monotonic()

    def remaining(self) -> float:
        """Seconds left; never negative."""
        return max(0.0, self._ends_at - self._clock.monotonic())

    def check(self, doing: str) -> float:
        """Return the seconds left, or raise ``TransientError`` if none are."""
        left = self.remaining()
        if left <= 0:
            raise self.exceeded(doing)
        return left

    def exceeded(self, doing: str) -> TransientError:
        return TransientError(
            f"the {self.timeout_seconds:g} s deadline passed while {doing}",
            hint="Retry later, or raise --timeout",
            retryable=False,
        )

    def attempt_budget(self, doing: str) -> float:
        """Seconds one attempt may take: half of what is left (at least 2 s, at most all of it),
        so that an attempt that hangs still leaves time for another."""
        left = self.check(doing)
        return min(left, max(MIN_ATTEMPT_SECONDS, left / 2))

    def http_timeouts(self, doing: str) -> tuple[float, float]:
        """``(connect, read)`` timeouts for one attempt of an HTTP request."""
        budget = self.attempt_budget(doing)
        return min(budget, MAX_CONNECT_SECONDS), budget
