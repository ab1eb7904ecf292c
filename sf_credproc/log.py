"""What sf-credproc says on stderr: progress with ``-v``, and the one line of a failure.

``--log-format text`` (the default) writes ``sf-credproc: <message>`` lines; ``json`` writes one JSON
object per event, for cloud log pipelines. Nothing secret is ever passed in: tokens appear only as
``fingerprint()``s. Every event is exactly one line: a message quoting a setting (a username with a
newline in it) is escaped, so it can neither split the line nor forge another one.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped (``\\n``, ``\\x1b``...)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def fingerprint(secret: str) -> str:
    """A short, non-reversible tag to tell tokens apart in logs (first 8 hex of SHA-256)."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]


class Log:
    """Writes events to ``stream``: info events only when ``verbose``, errors always."""

    def __init__(
        self, stream: TextIO | None, *, verbose: bool = False, json_format: bool = False
    ) -> None:
        self._stream = stream
        self.verbose = verbose
        self.json_format = json_format

    def info(self, event: str, message: str, **fields: Any) -> None:
        if self.verbose:
            self._write("info", event, message, fields)

    def warning(self, event: str, message: str, **fields: Any) -> None:
        """Something degraded but the command goes on: always said, verbose or not."""
        self._write("warning", event, message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._write("error", "failed", message, fields)

    def _write(self, level: str, event: str, message: str, fields: dict[str, Any]) -> None:
        if self._stream is None:
            return
        if self.json_format:
            now = time.time()
            stamp = (
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
                + f".{int(now % 1 * 1000):03d}Z"
            )
            record = {"time": stamp, "level": level, "event": event, "message": message, **fields}
            line = json.dumps(record, default=str)  # escapes every control character
        else:
            line = f"sf-credproc: {'warning: ' if level == 'warning' else ''}{one_line(message)}"
        self._stream.write(line + "\n")
        self._stream.flush()


QUIET = Log(None)
