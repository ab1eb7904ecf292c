"""Running ``sf-credproc agent``: its arguments, as a real process, and in this process on a
``SkippingClock`` (the ``SinkAgent`` with a small poll, the refresh driven by moving the clock)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from clocks import SkippingClock
from helpers import CLIENT_ID, EXE, USERNAME, Run, assert_no_leaks, get_args, with_default_sigint

from sf_credproc.agent.loop import SinkAgent
from sf_credproc.agent.sink_spec import SinkSpec, parse_sink
from sf_credproc.config.settings import resolve_keywords
from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.keeper import keeper_for

#: The long-running agent's own session, short enough that a refresh is due within seconds:
#: a token lives 8 s and is refreshed with at most 5 s (+ jitter) left.
SHORT_SESSION = ["--session-ttl", "8", "--min-ttl", "5", "--mandatory-ttl", "1"]
#: Generous bound for anything that happens "within seconds" on a shared 2-core machine.
PATIENCE_SECONDS = 60.0


def agent_args(emulator: SalesforceEmulator, key: str, *extra: str) -> list[str]:
    """``agent`` with the get arguments of the test org."""
    return ["agent", *get_args(emulator, key)[1:], *extra]


def eventually(predicate: Callable[[], bool], timeout: float = PATIENCE_SECONDS) -> bool:
    """Poll ``predicate`` until it holds (a file another process writes has no event to wait on)."""
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def leftovers(directory: Path) -> list[str]:
    """The agent's temporary files left in ``directory``."""
    return sorted(name for name in os.listdir(directory) if ".sf-credproc-" in name)


def read_or_none(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


class AgentProcess:
    """The installed command as a child: stopped by a signal, its output checked for leaks."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            with_default_sigint([str(EXE), *args]),
            env=env,
            text=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def stop(self, signum: int = signal.SIGTERM) -> Run:
        self.process.send_signal(signum)
        stdout, stderr = self.process.communicate(timeout=PATIENCE_SECONDS)
        run = Run(self.process.returncode, stdout, stderr)
        assert_no_leaks(run)
        return run

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=PATIENCE_SECONDS)


@contextlib.contextmanager
def agent_process(args: list[str], env: dict[str, str]) -> Iterator[AgentProcess]:
    agent = AgentProcess(args, env)
    try:
        yield agent
    finally:
        agent.kill()


class InProcessAgent:
    """A ``SinkAgent`` running in a thread of this process, on ``clock``."""

    def __init__(self, agent: SinkAgent, clock: SkippingClock) -> None:
        self.agent = agent
        self.clock = clock
        self.stop = threading.Event()
        self.thread = threading.Thread(target=agent.run, args=(self.stop,), daemon=True)

    def wait_for(self, predicate: Callable[[], bool]) -> None:
        assert self.agent.wait_for(predicate, PATIENCE_SECONDS), "the agent did not get there"

    def age_to(self, seconds_left: float) -> None:
        """Move the clock to when the credential held has ``seconds_left`` left, and wake the
        refresher (it would look within one poll anyway)."""
        held = self.agent.keeper.held
        assert held is not None
        self.clock.advance(held.expiration - seconds_left - self.clock.time())
        self.agent.refresher.wake()


@contextlib.contextmanager
def in_process_agent(
    emulator: SalesforceEmulator,
    key: str,
    env: dict[str, str],
    sinks: list[str],
    **settings: Any,
) -> Iterator[InProcessAgent]:
    """The agent for ``sinks`` in this process; the emulator reads the same skipping clock."""
    clock = SkippingClock()
    emulator.clock = clock.time
    resolved = resolve_keywords(
        client_id=CLIENT_ID,
        username=USERNAME,
        login_url=emulator.url,
        key=key,
        environ=env,
        **settings,
    )
    specs: list[SinkSpec] = [parse_sink(sink) for sink in sinks]
    agent = SinkAgent(specs, keeper_for(resolved, clock, env), clock, poll_seconds=0.02)
    running = InProcessAgent(agent, clock)
    running.thread.start()
    try:
        running.wait_for(lambda: agent.writes >= len(specs))
        yield running
    finally:
        running.stop.set()
        running.thread.join(PATIENCE_SECONDS)
        assert not running.thread.is_alive()
