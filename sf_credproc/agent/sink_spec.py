"""``--sink PATH[,format=json|token|env][,mode=0600]``: where the agent writes, in which shape.

The value is split on commas: the first part is the path (absolute, or relative to the working
directory the agent starts in; a path with a comma in it cannot be named), each further part is
``key=value``, each key at most once. A sink is refused (exit 2, before any login) when its mode
lets group or others write (anyone could plant a token for the consumer), when nobody may read
it, when its directory is missing (the agent never creates directories: a typo must not create a
tree), or when its path is a symbolic link, a directory or anything else than a regular file
(Vault Agent's file sink writes a regular file only). A mode that lets others read is accepted with
one warning: a credential readable by every local user is sometimes what a pod wants.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from .. import log
from ..errors import ConfigError

#: What a sink may hold: the shapes of ``formats.render`` a file consumer reads.
SINK_FORMATS = ("json", "token", "env")
DEFAULT_FORMAT = "json"
DEFAULT_MODE = 0o600
#: Three octal digits, or four with a leading 0 (no setuid, setgid or sticky bit).
_MODE = re.compile(r"0?[0-7]{3}")
_KEYS = ("format", "mode")


@dataclass(frozen=True)
class SinkSpec:
    """One ``--sink``: the file's absolute path, its format and its permission bits."""

    path: str
    format: str = DEFAULT_FORMAT
    mode: int = DEFAULT_MODE
    #: The ``--sink`` value as given, for error lines.
    given: str = ""

    def describe(self) -> str:
        return f"{self.path} ({self.format}, {self.mode:04o})"


def parse_sink(value: str, *, cwd: str | None = None) -> SinkSpec:
    """The ``SinkSpec`` of one ``--sink`` value; ``ConfigError`` naming the value and the fix."""
    path, *options = value.split(",")
    if not path:
        raise _refused(value, "no path", "Start the value with the file's path")
    fields: dict[str, str] = {}
    for option in options:
        key, equals, setting = option.partition("=")
        if not equals or key not in _KEYS:
            raise _refused(
                value,
                f"unknown part {log.one_line(option)!r}",
                "Use PATH[,format=json|token|env][,mode=0600] (a path cannot contain a comma)",
            )
        if key in fields:
            raise _refused(value, f"{key}= given twice", f"Give {key}= once")
        fields[key] = setting
    sink_format = fields.get("format", DEFAULT_FORMAT)
    if sink_format not in SINK_FORMATS:
        raise _refused(
            value, f"unknown format {log.one_line(sink_format)!r}", "Use format=json, token or env"
        )
    mode = _parse_mode(value, fields.get("mode"))
    absolute = os.path.normpath(os.path.join(cwd or os.getcwd(), path))
    return SinkSpec(absolute, sink_format, mode, value)


def _parse_mode(value: str, text: str | None) -> int:
    if text is None:
        return DEFAULT_MODE
    if not _MODE.fullmatch(text):
        raise _refused(
            value,
            f"mode {log.one_line(text)!r} is not 3 or 4 octal digits",
            "Use an octal mode such as mode=0600 or mode=0640 (no setuid, setgid or sticky bit)",
        )
    mode = int(text, 8)
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise _refused(
            value,
            f"mode {mode:04o} lets group or others write the credential file",
            "Use a mode without group or other write bits, such as mode=0600 or mode=0640",
        )
    if not mode & (stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH):
        raise _refused(value, f"mode {mode:04o} lets nobody read the file", "Use mode=0600")
    return mode


def parse_sinks(values: Sequence[str] | None, *, cwd: str | None = None) -> list[SinkSpec]:
    """Every ``--sink``, parsed and checked against the file system (``check_sink``); at least one,
    no path twice. One warning per sink that others may read."""
    if not values:
        raise ConfigError(
            "agent needs at least one --sink",
            hint="Use: sf-credproc agent [options] --sink PATH[,format=json|token|env][,mode=0600]",
        )
    sinks = [parse_sink(value, cwd=cwd) for value in values]
    seen: set[str] = set()
    for sink in sinks:
        if sink.path in seen:
            raise _refused(sink.given, f"{sink.path} is named by two --sink", "Name each file once")
        seen.add(sink.path)
        check_sink(sink)
        if sink.mode & stat.S_IROTH:
            log.warning(
                "sink",
                f"--sink {sink.path}: mode {sink.mode:04o} lets every local user read the "
                "credential; use mode=0600 or 0640 unless that is intended",
                path=sink.path,
                mode=f"{sink.mode:04o}",
            )
    return sinks


def check_sink(sink: SinkSpec) -> None:
    """Refuse a sink the agent must not write: its directory missing or not writable, its path
    something else than a regular file (a symlink, a directory, a FIFO, a device)."""
    problem = sink_problem(sink.path)
    if problem is not None:
        raise _refused(sink.given or sink.path, problem[0], problem[1])


def sink_problem(path: str) -> tuple[str, str] | None:
    """What forbids writing ``path`` (the problem, the fix), or None. ``lstat``: never follows a
    symbolic link and never opens a FIFO (which would block)."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        return (
            f"directory {directory} does not exist",
            "Create it first (the agent never creates directories)",
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        return (
            f"directory {directory} is not writable by this user",
            "Give the agent's user write access to the directory",
        )
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"{path} cannot be examined ({error.strerror})", "Check the path"
    if stat.S_ISREG(found.st_mode):
        return None
    kind = (
        "a symbolic link"
        if stat.S_ISLNK(found.st_mode)
        else "a directory"
        if stat.S_ISDIR(found.st_mode)
        else "a FIFO"
        if stat.S_ISFIFO(found.st_mode)
        else "not a regular file"
    )
    return (
        f"{path} is {kind}",
        "Point --sink at a regular file or at a path that does not exist yet",
    )


def _refused(value: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"--sink {log.one_line(value)!r}: {problem}", hint=fix)
