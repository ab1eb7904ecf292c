"""The clock seam: wall time for JWT claims and expirations, monotonic time for deadlines.

Tests pass a fake ``Clock`` instead of patching ``time``.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Where sf-credproc reads the time."""

    def time(self) -> float:
        """Seconds since the Unix epoch (wall clock)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for deadlines)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait (between retries)."""
        ...


class SystemClock:
    """The real clocks of this machine."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
