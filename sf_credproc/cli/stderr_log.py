"""What the command line says on stderr: progress with ``-v``, warnings, status lines, failures.

A ``logging`` handler on the ``sf_credproc`` logger, installed for the length of one command.
``--log-format text`` (the default) writes ``sf-credproc: <message>`` lines; ``json`` writes one
JSON object per event, for cloud log pipelines. Every event is exactly one line: a message quoting a
setting (a username with a newline in it) is escaped, so it can neither split the line nor forge
another one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any, TextIO

from ..log import logger, one_line

#: What ``--log-format`` may name: the shapes ``StderrHandler`` writes.
LOG_FORMATS = ("text", "json")


class StderrHandler(logging.Handler):
    """Formats ``sf_credproc`` records as text or JSON lines on ``stream``."""

    def __init__(self, stream: TextIO, *, json_format: bool = False) -> None:
        super().__init__()
        self.stream = stream
        self.json_format = json_format

    def emit(self, record: logging.LogRecord) -> None:
        level = "warning" if record.levelno == logging.WARNING else record.levelname.lower()
        event = getattr(record, "event", "failed" if record.levelno >= logging.ERROR else "log")
        fields: dict[str, Any] = getattr(record, "fields", {})
        self.write(level, event, record.getMessage(), fields)

    def write(
        self,
        level: str,
        event: str,
        message: str,
        fields: dict[str, Any],
        *,
        speaker: str = "sf-credproc",
    ) -> None:
        """One line: ``speaker: message`` as text, or one JSON object (``speaker`` is text-only)."""
        if self.json_format:
            now = time.time()
            stamp = (
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
                + f".{int(now % 1 * 1000):03d}Z"
            )
            record = {"time": stamp, "level": level, "event": event, "message": message, **fields}
            line = json.dumps(record, default=str)  # escapes every control character
        else:
            line = f"{speaker}: {'warning: ' if level == 'warning' else ''}{one_line(message)}"
        self.stream.write(line + "\n")
        self.stream.flush()

    def error(self, message: str, **fields: Any) -> None:
        """The failure line of a command: always written, whatever the verbosity."""
        self.write("error", "failed", message, fields)

    def say(self, event: str, message: str, *, speaker: str = "sf-credproc", **fields: Any) -> None:
        """A command's status line (what it did, what to do next): always written.

        ``speaker`` prefixes the text line (``sf-credproc demo: ...``) as the command did before
        it spoke through the handler; JSON lines carry ``event`` instead.
        """
        self.write("info", event, message, fields, speaker=speaker)


@contextlib.contextmanager
def stderr_events(stream: TextIO, *, json_format: bool) -> Iterator[StderrHandler]:
    """Send ``sf_credproc`` events to ``stream`` until the block ends (warnings only, until
    ``show_progress`` turns ``-v`` on)."""
    handler = StderrHandler(stream, json_format=json_format)
    previous = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False  # the command's own stderr only, never a host program's handlers
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]


def show_progress(verbose: bool) -> None:
    """``-v``: progress events too."""
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
