"""Progress lines for ``--verbose``: one per step, on stderr, never a secret."""

from __future__ import annotations

import hashlib
from typing import TextIO


def fingerprint(secret: str) -> str:
    """A short, non-reversible tag to tell tokens apart in logs (first 8 hex of SHA-256)."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]


class Progress:
    """Writes ``sf-credproc: <step>`` lines to ``stream`` when enabled; otherwise nothing."""

    def __init__(self, stream: TextIO | None, *, enabled: bool) -> None:
        self._stream = stream
        self.enabled = enabled and stream is not None

    def step(self, message: str) -> None:
        if self.enabled and self._stream is not None:
            self._stream.write(f"sf-credproc: {message}\n")
            self._stream.flush()
