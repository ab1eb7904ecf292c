"""Library events through ``logging.getLogger("sf_credproc")``, and the helpers that keep them safe.

sf-credproc logs like any library: a program that imports it decides where events go (the package
adds only a ``NullHandler``). The command line installs its own handler (``cli/stderr_log.py``),
which writes ``--log-format text`` or ``json`` lines on stderr. Every record carries ``event`` (the
step: ``cache``, ``key``, ``retry``...) and ``fields`` (values for JSON logs) in ``extra``. Nothing
secret is ever passed in: tokens appear only as ``fingerprint()``s.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

logger = logging.getLogger("sf_credproc")
logger.addHandler(logging.NullHandler())


def info(event: str, message: str, **fields: Any) -> None:
    """Progress: shown by the command line with ``-v`` only."""
    logger.info(message, extra={"event": event, "fields": fields})


def warning(event: str, message: str, **fields: Any) -> None:
    """Something degraded but the command goes on: always shown by the command line."""
    logger.warning(message, extra={"event": event, "fields": fields})


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped (``\\n``, ``\\x1b``...)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def fingerprint(secret: str) -> str:
    """A short, non-reversible tag to tell tokens apart in logs (first 8 hex of SHA-256)."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]
