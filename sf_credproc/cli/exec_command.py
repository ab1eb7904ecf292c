"""``sf-credproc exec -- COMMAND``: obtain the credential, then become COMMAND with it in its
environment (aws-vault's ``exec``; the variables are ``formats.environment_variables``).

``exec --server -- COMMAND`` (aws-vault's ``exec --ecs-server``): COMMAND runs as a child instead,
and this process serves it a local endpoint on a random loopback port with a random token
(``SF_CREDPROC_SERVER_URL``, ``SF_CREDPROC_SERVER_TOKEN``), which keeps the token fresh for as
long as the child runs; the exit status is the child's.

``exec --cumulusci-org NAME`` adds CumulusCI's ``CUMULUSCI_ORG_<NAME>`` and
``CUMULUSCI_DISABLE_REFRESH=1`` (``cumulusci.py``), with or without ``--server``: the variables
are the token the command starts with either way.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..config.options import SECRET_ENVIRONMENT
from ..config.serve_options import (
    SERVER_SOCKET_ENV,
    SERVER_TOKEN_ENV,
    SERVER_TOKEN_FILE_ENV,
    SERVER_URL_ENV,
)
from ..config.settings import Settings
from ..errors import ConfigError, ExitStatus
from . import watchdog
from .context import CommandContext
from .get_command import obtain

if TYPE_CHECKING:
    from ..credential import Credential


def run(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    from ..cumulusci import org_variable

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
    # Checked before any login too: a name CumulusCI cannot read back is a usage error.
    cumulusci_org: str | None = getattr(args, "cumulusci_org", None)
    if cumulusci_org is not None:
        org_variable(cumulusci_org)
    settings, outcome = obtain(args, context)
    variables = consumer_variables(outcome.credential, cumulusci_org)
    child_environment = {**scrubbed_environment(context.environ, settings), **variables}
    context.stderr.flush()
    watchdog.disarm()  # an interval timer would survive execve and kill the command
    if getattr(args, "server", False):
        served = _serve_child(context, settings, variables, outcome.credential, program, command)
        raise SystemExit(served)
    try:
        context.replace_process(program, command, child_environment)  # no shell, on purpose
    except OSError as error:
        raise ConfigError(
            f"exec: cannot run {command[0]!r} ({error.strerror})",
            hint="Check that it is an executable file",
        ) from error
    # Only a replace_process that returns (none does: execve replaces this process) gets here.
    return ExitStatus.INTERNAL


def consumer_variables(credential: Credential, cumulusci_org: str | None) -> dict[str, str]:
    """The variables the command gets: ``formats.environment_variables``, and with
    ``--cumulusci-org NAME`` CumulusCI's org (``cumulusci.environment_variables``)."""
    from ..formats import environment_variables

    variables = environment_variables(credential)
    if cumulusci_org is not None:
        from ..cumulusci import environment_variables as cumulusci_variables

        variables.update(cumulusci_variables(credential, cumulusci_org))
    return variables


def _serve_child(
    context: CommandContext,
    settings: Settings,
    variables: dict[str, str],
    credential: Credential,
    program: str,
    command: list[str],
) -> int:
    """Serve the endpoint in a thread while COMMAND runs as a child; the child's status.

    The child gets the same variables as without ``--server`` (``variables``: the token it starts
    with, CumulusCI's org included), and the endpoint's, which keep the token fresh."""
    from ..serve.child import run_child
    from ..serve.endpoint import SERVED_FORMATS
    from ..serve.runner import Endpoint
    from ..serve.server_token import new_token

    if settings.output_format not in SERVED_FORMATS:
        settings = dataclasses.replace(settings, output_format="json")
    token = new_token()
    endpoint = Endpoint(
        settings,
        clock=context.clock,
        environ=context.environ,
        server_token=token,
        initial=credential,
    )
    url = endpoint.start()
    environment = scrubbed_environment(context.environ, settings)
    for name in (SERVER_SOCKET_ENV, SERVER_TOKEN_FILE_ENV):
        environment.pop(name, None)  # the child's endpoint is this one
    environment.update(variables)
    environment.update({SERVER_URL_ENV: url, SERVER_TOKEN_ENV: token})
    try:
        return run_child(program, command, environment, context.stdout, context.stderr)
    finally:
        endpoint.stop()


def scrubbed_environment(environ: Mapping[str, str], settings: Settings) -> dict[str, str]:
    """``environ`` without the secrets that unlocked the key: the command gets the token it
    needs, never what the option spec marks secret (the passphrase, the PIN, the Vault token and
    AppRole secret id) or the PEM of an ``env:`` key source."""
    secret_names = set(SECRET_ENVIRONMENT)
    if settings.key is not None and settings.key.scheme == "env":
        secret_names.add(settings.key.target)
    return {name: value for name, value in environ.items() if name not in secret_names}
