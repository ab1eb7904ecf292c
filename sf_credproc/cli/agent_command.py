"""``sf-credproc agent --sink PATH[,format=...][,mode=...]``: files kept fresh (Vault Agent's
auto-auth and file sinks), for sidecars and programs that read a credential from a file.

Every sink is checked before any login (a bad one is exit 2). ``--once`` obtains the credential
within ``--timeout`` (errors: the exit codes of ``get``), writes every sink and exits 0: an init
container's job. Otherwise the agent runs until SIGTERM (exit 0: stopping is its normal end, as for
``serve``) or SIGINT (130), rewriting the sinks with every new credential (``agent/loop.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import threading
from typing import TYPE_CHECKING, Any

from .. import log
from ..errors import ExitStatus
from . import watchdog
from .context import CommandContext

if TYPE_CHECKING:
    from ..agent.loop import SinkAgent


def run(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    from ..agent.loop import SinkAgent
    from ..agent.sink_spec import parse_sinks
    from ..agent.sink_writer import remove_leftovers
    from ..keeper import keeper_for
    from .stderr_log import show_progress

    resolved = context.resolve(args)
    # A digest names one token, now; the agent lives for days and replaces tokens by expiry.
    settings = dataclasses.replace(resolved.settings, rejected_sha256=None)
    show_progress(settings.verbose)
    sinks = parse_sinks(args.sink)  # before any login: a typo costs nothing
    for sink in sinks:
        remove_leftovers(sink.path)  # of an agent killed in mid-write
    agent = SinkAgent(sinks, keeper_for(settings, context.clock, context.environ), context.clock)
    if args.once:
        agent.write_once()  # within the watchdog's --timeout
        return ExitStatus.OK
    watchdog.disarm()  # --timeout bounds each login from now on, not the agent's life
    return _run_until_signal(agent)


def _run_until_signal(agent: SinkAgent) -> ExitStatus:
    """Run ``agent`` until SIGTERM or SIGINT; the main thread only waits on an event the handlers
    set (a handler that raised could interrupt a write half-way)."""
    stop = threading.Event()
    received: list[int] = []

    def request_stop(signum: int, frame: Any) -> None:
        received.append(signum)
        stop.set()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous: dict[int, Any] = {}
    if in_main_thread:
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, request_stop)
    try:
        log.info("agent", "keeping the sinks fresh until SIGTERM")
        agent.run(stop)
    finally:
        for caught, handler in previous.items():
            signal.signal(caught, handler)
    if received and received[0] == signal.SIGINT:
        return ExitStatus.INTERRUPTED
    return ExitStatus.OK
