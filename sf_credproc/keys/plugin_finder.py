"""Finding the executable of a signer plugin: ``NAME:REST`` runs ``sf-credproc-signer-NAME``.

A plugin is code that sf-credproc runs with the user's environment, so where it may come from is
narrow. It is looked up in the **absolute** entries of ``PATH`` only, in order, the first match
winning: a relative entry, and an empty one (POSIX: the current directory), would make the signer
depend on where the command happens to be run, so they are skipped. The match is refused, not
skipped over, when anyone but its owner could have replaced it: the file (after symbolic links) or
the directory holding it writable by group or others, or either owned by someone other than root
or the user running the command (the rule ``sudo``'s ``secure_path`` and OpenSSH's
``StrictModes`` apply). A match that is not a regular file, or not executable, is refused too.
Every refusal is a configuration error (exit 2) naming the path and the fix.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

from ..config.key_uri import PLUGIN_PREFIX
from ..errors import ConfigError
from ..local_files import describe_file_type, replaceable_by_others
from ..log import one_line


def plugin_executable(name: str) -> str:
    """``sf-credproc-signer-NAME``: the file name a plugin for ``NAME:`` keys is installed as."""
    return f"{PLUGIN_PREFIX}{name}"


def find_plugin(name: str, environ: Mapping[str, str]) -> str:
    """The checked, resolved path of the plugin for ``NAME:`` keys, or ``ConfigError``."""
    executable = plugin_executable(name)
    for entry in environ.get("PATH", "").split(os.pathsep):
        if not os.path.isabs(entry):
            continue  # "" is the current directory, "bin" is relative to it: never trusted
        candidate = os.path.join(entry, executable)
        try:
            os.lstat(candidate)
        except OSError:
            continue  # absent, or the entry is not a searchable directory
        return _checked(candidate, entry)
    raise ConfigError(
        f"no signer plugin for {name}: keys ({executable} is in no absolute PATH entry)",
        hint=f"Install the executable {executable} in a directory named by its absolute path in "
        "PATH (a relative or empty PATH entry is skipped), or use a built-in key source scheme",
    )


def _checked(candidate: str, entry: str) -> str:
    """``candidate`` resolved, if it and the directories holding it are safe to run from."""
    shown = one_line(candidate)
    resolved = os.path.realpath(candidate)
    try:
        info = os.stat(resolved)
    except OSError as error:  # a dangling symbolic link, a loop
        raise ConfigError(
            f"the signer plugin {shown} cannot be read ({error.strerror})",
            hint="Reinstall the plugin, or remove the broken entry",
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(
            f"the signer plugin {shown} is {describe_file_type(info.st_mode)}, not a regular file",
            hint="Install the plugin as an executable file, or remove what is there",
        )
    problem = replaceable_by_others(info)
    if problem:
        raise ConfigError(
            f"the signer plugin {shown} is {problem}",
            hint=f"It is code sf-credproc runs: make it the user's or root's and run chmod go-w "
            f"{shown}",
        )
    for directory in dict.fromkeys((entry, os.path.dirname(resolved))):
        try:
            problem = replaceable_by_others(os.stat(directory))
        except OSError:
            problem = "not readable"
        if problem:
            raise ConfigError(
                f"the directory {one_line(directory)} of the signer plugin {shown} is {problem}",
                hint="Install the plugin in a directory that only its owner (the user or root) "
                f"can write, or run chmod go-w {one_line(directory)}",
            )
    if not os.access(resolved, os.X_OK):
        raise ConfigError(
            f"the signer plugin {shown} is not executable",
            hint=f"Run chmod 755 {shown}",
        )
    return resolved
