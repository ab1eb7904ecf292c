"""The emulator with fault injection: canned answers the token endpoint plays before the real one.

Outages, proxies' HTML pages, reset or truncated connections and slow answers are what a real
deployment meets and the product must survive; the shipped emulator has none of them, so the tests
add them through its ``intercept`` hook.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.emulator.handler import TOKEN_PATH, Connection
from sf_credproc.oauth.userinfo import USERINFO_PATH


@dataclass(frozen=True)
class CannedResponse:
    """An answer the token endpoint gives instead of the real one (outages, proxies, faults).

    ``kind``: ``respond`` sends it; ``reset`` drops the connection (TCP RST) without an answer;
    ``truncate`` sends the headers and half the body, then resets. ``delay_seconds`` waits first (a
    slow or stuck server). A canned answer with status 0 (``PASS``) lets the real endpoint answer
    after the fault.
    """

    status: int
    body: bytes
    content_type: str = "text/html; charset=UTF-8"
    kind: str = "respond"
    delay_seconds: float = 0.0


PASS = CannedResponse(0, b"")


class FaultyEmulator(SalesforceEmulator):
    """A ``SalesforceEmulator`` whose token endpoint first plays ``canned_responses``, in order,
    and whose userinfo endpoint first answers ``canned_userinfo`` (status and body only)."""

    def __init__(self, **kwargs: Any) -> None:
        self.canned_responses: list[CannedResponse] = []
        self.canned_userinfo: list[CannedResponse] = []
        #: Bumped by reset(): a delayed request from before it is dropped.
        self.generation = 0
        super().__init__(**kwargs)

    def reset(self) -> None:
        with self.lock:
            self.generation += 1
            self.canned_responses.clear()
            self.canned_userinfo.clear()
            super().reset()

    def intercept(self, path: str, connection: Connection) -> bool:
        """Play the next canned answer, outside the lock (it may sleep); True if it answered."""
        if path == USERINFO_PATH:
            with self.lock:
                if not self.canned_userinfo:
                    return False
                userinfo = self.canned_userinfo.pop(0)
                self.request_counts[USERINFO_PATH] += 1
            connection.send(userinfo.status, userinfo.body, userinfo.content_type)
            return True
        if path != TOKEN_PATH:
            return False
        with self.lock:
            if not self.canned_responses:
                return False
            canned = self.canned_responses.pop(0)
            if canned.status == 0 and canned.kind == "respond" and not canned.delay_seconds:
                return False  # PASS: the real endpoint answers, and counts the request
            # Counted now, before any delay: a test can see that a hanging request arrived.
            self.request_counts[TOKEN_PATH] += 1
            generation = self.generation
        if canned.delay_seconds:
            time.sleep(canned.delay_seconds)
            if self.generation != generation:
                # reset() came in between: this request belongs to a world that is gone.
                connection.reset()
                return True
        if canned.kind == "reset":
            connection.reset()
        elif canned.kind == "truncate":
            half = canned.body[: len(canned.body) // 2]
            connection.send(
                canned.status, half, canned.content_type, content_length=len(canned.body)
            )
            connection.reset()
        elif canned.status:
            connection.send(canned.status, canned.body, canned.content_type)
        else:
            with self.lock:
                self.request_counts[TOKEN_PATH] -= 1
            return False  # a delayed PASS: the real endpoint answers after the wait
        return True
