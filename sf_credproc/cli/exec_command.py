"""``sf-credproc exec -- COMMAND``: obtain the credential, then become COMMAND with it in its
environment (aws-vault's ``exec``; the variables are ``formats.environment_variables``)."""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Mapping

from ..config.options import SECRET_ENVIRONMENT
from ..config.settings import Settings
from ..errors import ConfigError, ExitStatus
from . import watchdog
from .context import CommandContext
from .get_command import obtain


def run(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    from ..formats import environment_variables

    command = list(context.exec_command)
    if not command:
        raise ConfigError(
            "exec needs a command", hint="Use: sf-credproc exec [options] -- COMMAND [ARGS...]"
        )
    # Look the command up first: a typo must not cost a login.
    program = shutil.which(command[0], path=context.environ.get("PATH", os.defpath))
    if program is None:
        raise ConfigError(
            f"exec: command {command[0]!r} not found",
            hint="Check the name, or give its full path",
        )
    settings, outcome = obtain(args, context)
    variables = environment_variables(outcome.credential)
    child_environment = {**scrubbed_environment(context.environ, settings), **variables}
    context.stderr.flush()
    watchdog.disarm()  # an interval timer would survive execve and kill the command
    try:
        context.replace_process(program, command, child_environment)  # no shell, on purpose
    except OSError as error:
        raise ConfigError(
            f"exec: cannot run {command[0]!r} ({error.strerror})",
            hint="Check that it is an executable file",
        ) from error
    # Only a replace_process that returns (none does: execve replaces this process) gets here.
    return ExitStatus.INTERNAL


def scrubbed_environment(environ: Mapping[str, str], settings: Settings) -> dict[str, str]:
    """``environ`` without the secrets that unlocked the key: the command gets the token it
    needs, never what the option spec marks secret (the passphrase, the PIN, the Vault token and
    AppRole secret id) or the PEM of an ``env:`` key source."""
    secret_names = set(SECRET_ENVIRONMENT)
    if settings.key is not None and settings.key.scheme == "env":
        secret_names.add(settings.key.target)
    return {name: value for name, value in environ.items() if name not in secret_names}
