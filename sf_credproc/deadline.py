"""One overall deadline for a command (``--timeout``), from which every network timeout is cut."""

from __future__ import annotations

from .clock import Clock
from .errors import TransientError

#: A connection that takes longer than this to establish is not going to succeed; the rest of the
#: budget is better spent reading the answer.
MAX_CONNECT_SECONDS = 10.0


class Deadline:
    """The moment by which the whole command must have finished."""

    def __init__(self, timeout_seconds: float, clock: Clock) -> None:
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self._ends_at = clock.monotonic() + timeout_seconds

    def remaining(self) -> float:
        """Seconds left; never negative."""
        return max(0.0, self._ends_at - self._clock.monotonic())

    def check(self, doing: str) -> float:
        """Return the seconds left, or raise ``TransientError`` if none are."""
        left = self.remaining()
        if left <= 0:
            raise TransientError(
                f"the {self.timeout_seconds:g} s deadline passed while {doing}",
                hint="Retry later, or raise --timeout",
            )
        return left

    def http_timeouts(self, doing: str) -> tuple[float, float]:
        """``(connect, read)`` timeouts for one HTTP request that fit in what is left."""
        left = self.check(doing)
        return min(left, MAX_CONNECT_SECONDS), left
