"""Retries for transient failures: exponential backoff with full jitter, inside the deadline.

"Exponential Backoff And Jitter" (AWS Architecture Blog): each wait is uniform in
``[0, min(cap, base * 2**attempt))``, which spreads out clients that failed together instead of
making them retry in lock-step. Permanent errors are never retried; nor are transient ones that
say retrying now cannot help (``retryable=False``: the login rate limit, a passed deadline).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from . import log
from .clock import Clock
from .deadline import Deadline
from .errors import TransientError

T = TypeVar("T")


class RetryPolicy(NamedTuple):
    """At most ``max_attempts`` tries, waits growing from ``base_seconds`` to ``cap_seconds``."""

    max_attempts: int = 4
    base_seconds: float = 0.25
    cap_seconds: float = 4.0

    def delay(self, attempt: int, draw: Callable[[], float] = random.random) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        return float(draw() * min(self.cap_seconds, self.base_seconds * 2**attempt))


DEFAULT_POLICY = RetryPolicy()
#: A refresh that a usable token backs (the advisory window): one attempt, no retries.
ONE_ATTEMPT = RetryPolicy(max_attempts=1)


def call_with_retries(
    operation: Callable[[int], T],
    *,
    doing: str,
    deadline: Deadline,
    clock: Clock,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> T:
    """``operation(attempt)`` until it succeeds, fails for good, or time or attempts run out."""
    attempt = 1
    while True:
        try:
            return operation(attempt)
        except TransientError as error:
            if not error.retryable or attempt >= policy.max_attempts:
                raise
            delay = policy.delay(attempt)
            if deadline.remaining() <= delay:
                raise
            log.info(
                "retry",
                f"attempt {attempt} at {doing} failed ({error.message}); retrying in {delay:.2f} s",
                attempt=attempt,
                doing=doing,
                delay_seconds=round(delay, 3),
            )
            clock.sleep(delay)
            attempt += 1
