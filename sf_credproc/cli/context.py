"""What every command receives: its streams, environment, clock and seams (httpie's ``Environment``).

Each command is one module with one signature, ``run(args, context) -> ExitStatus``; the funnel in
``cli/main.py`` builds the context once, so a test runs any command in-process by passing fakes
here instead of patching (botocore's ``time_fetcher=``, httpie's ``Environment`` in tests).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, Protocol, TextIO

from ..errors import ExitStatus

if TYPE_CHECKING:
    from ..clock import Clock
    from ..config.settings import Settings
    from ..deadline import Deadline
    from .stderr_log import StderrHandler

#: ``os.execve``'s shape: become ``program`` with ``argv`` and exactly ``env``; never returns.
ReplaceProcess = Callable[[str, list[str], dict[str, str]], NoReturn]


class Resolved(NamedTuple):
    """A command's settings, and its deadline (``--timeout``), which starts when they resolve."""

    settings: Settings
    deadline: Deadline


class SettingsResolver(Protocol):
    """Resolves settings from parsed flags and an environment; starts the deadline and arms the
    hard deadline's timer."""

    def __call__(
        self,
        flags: Mapping[str, Any],
        environ: Mapping[str, str],
        clock: Clock,
        *,
        needs: frozenset[str] | None,
    ) -> Resolved: ...


@dataclass(frozen=True, eq=False)  # a context, compared by identity
class CommandContext:
    """One command's world: the process's, or a test's fakes."""

    #: May hold secrets (an ``env:`` key, the passphrase): left out of the ``repr``.
    environ: Mapping[str, str] = field(repr=False)
    stdout: TextIO
    stderr: TextIO
    clock: Clock
    replace_process: ReplaceProcess
    #: Where the command's own lines go (text or JSON, per ``--log-format``).
    log: StderrHandler
    #: The funnel's settings resolution, which arms the hard deadline (``--timeout``).
    settings_resolver: SettingsResolver
    #: The command line before ``--`` (the fast path's index is keyed on it).
    argv: tuple[str, ...] = ()
    #: ``exec``'s command: everything after ``--``.
    exec_command: tuple[str, ...] = ()

    def resolve(self, args: argparse.Namespace, *, needs: frozenset[str] | None = None) -> Resolved:
        """The command's settings (flag > env > profile > default); its deadline starts now.

        ``needs``: the settings the command cannot do without (None: those a login needs).
        """
        return self.settings_resolver(vars(args), self.environ, self.clock, needs=needs)


class Command(Protocol):
    """The one signature of every subcommand module's entry point."""

    def __call__(self, args: argparse.Namespace, context: CommandContext) -> ExitStatus: ...
