"""Clocks for the ``Clock`` seam (``sf_credproc/clock.py``): time passes without a test waiting."""

from __future__ import annotations

import time


class SkippingClock:
    """The real clocks plus an offset: ``sleep`` and ``advance`` move it forward at once.

    A retry's backoff then costs no real time, yet every deadline sees the time it would have
    taken; a lifecycle test ``advance``s to a token's expiry instead of sleeping until it. Time
    spent on real sockets still counts, as it must for the deadlines that guard against them.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        self.offset += max(0.0, seconds)


class ManualClock:
    """Time that moves only when told: ``sleep`` and ``advance`` add to it."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class BrokenClock:
    """A clock that fails: the only honest way to reach the 'this is a bug' path."""

    def time(self) -> float:
        raise RuntimeError("clock exploded")

    def monotonic(self) -> float:
        raise RuntimeError("clock exploded")

    def sleep(self, seconds: float) -> None:
        raise RuntimeError("clock exploded")
