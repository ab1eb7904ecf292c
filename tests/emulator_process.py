"""``sf-credproc emulator`` as a user runs it: a real process, its printed lines read back.

The tests of the recipes run against it exactly as a reader would: the settings it prints go into
``SF_CREDPROC_*`` variables, and its ``trust:`` line (with ``--https``) is pasted into the shell.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from helpers import EXE, base_env, with_default_sigint


def shell_env(home: Path) -> dict[str, str]:
    """A clean environment whose shell finds ``sf-credproc`` on ``PATH``, as a reader's does."""
    env = base_env(home)
    env["PATH"] = f"{EXE.parent}:{env['PATH']}"
    return env


def shell(script: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``script`` run by ``sh``, as pasted into a shell."""
    return subprocess.run(
        ["sh", "-c", script], env=dict(env), capture_output=True, text=True, timeout=60, check=False
    )


@dataclass
class EmulatorProcess:
    """The running emulator and its ``name: value`` lines (``url``, ``key``, ``ca``, ...)."""

    process: subprocess.Popen[str]
    lines: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.lines["url"]

    @property
    def ca_path(self) -> Path:
        """The throwaway CA's certificate (``ca: PATH (...)``)."""
        return Path(self.lines["ca"].split(" (", 1)[0])

    @property
    def trust(self) -> str:
        """The ``export ...`` line to paste, as printed."""
        return self.lines["trust"]

    def trust_variables(self) -> dict[str, str]:
        """What pasting the ``trust:`` line exports."""
        words = shlex.split(self.trust)
        assert words[0] == "export", self.trust
        return dict(word.split("=", 1) for word in words[1:])

    def settings(self) -> dict[str, str]:
        """The printed settings as the ``SF_CREDPROC_*`` variables a reader would set."""
        return {
            "SF_CREDPROC_LOGIN_URL": self.lines["url"],
            "SF_CREDPROC_CLIENT_ID": self.lines["client_id"],
            "SF_CREDPROC_USERNAME": self.lines["username"],
            "SF_CREDPROC_KEY": self.lines["key"],
        }


def read_lines(process: subprocess.Popen[str]) -> dict[str, str]:
    """The ``name: value`` lines up to ``stop:``; a server that never prints it is killed at 30 s."""
    assert process.stdout is not None
    watchdog = threading.Timer(30, process.kill)
    watchdog.start()
    lines: dict[str, str] = {}
    try:
        while "stop" not in lines:
            line = process.stdout.readline()
            assert line, f"the emulator ended before printing its lines: {lines}"
            name, value = line.rstrip("\n").split(": ", 1)
            lines[name] = value
    finally:
        watchdog.cancel()
    return lines


@contextmanager
def emulator_process(
    args: Sequence[str], env: Mapping[str, str], stop: signal.Signals = signal.SIGTERM
) -> Iterator[EmulatorProcess]:
    """``sf-credproc emulator ARGS``, stopped with ``stop`` on the way out (waited for)."""
    process = subprocess.Popen(
        with_default_sigint([str(EXE), "emulator", *args]),
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield EmulatorProcess(process, read_lines(process))
    finally:
        if process.poll() is None:
            process.send_signal(stop)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
