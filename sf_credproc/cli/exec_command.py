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
    from ..cache.port import Outcome
    from ..credential import Credential


def run(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    from ..cumulusci import org_variable
    from ..formats import PURE_FORMATS
    from ..shell_signals import exec_with_shell_signals

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
    serves = bool(getattr(args, "server", False))
    plain = not (settings.refresh or settings.verbose or settings.rejected_sha256)
    if outcome.entry_path and plain and not serves and settings.output_format in PURE_FORMATS:
        _record_for_fast_path(context, settings, outcome, variables)
    context.stderr.flush()
    watchdog.disarm()  # an interval timer would survive execve and kill the command
    if serves:
        served = _serve_child(context, settings, variables, outcome.credential, program, command)
        raise SystemExit(served)
    try:
        # No shell, on purpose; SIGPIPE and SIGXFSZ at their defaults, as a shell gives them.
        exec_with_shell_signals(context.replace_process, program, command, child_environment)
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


def secret_names(settings: Settings) -> set[str]:
    """The variables the command never inherits: what the option spec marks secret (the
    passphrase, the PIN, the Vault token and AppRole secret id) and an ``env:`` key source's."""
    names = set(SECRET_ENVIRONMENT)
    if settings.key is not None and settings.key.scheme == "env":
        names.add(settings.key.target)
    return names


def scrubbed_environment(environ: Mapping[str, str], settings: Settings) -> dict[str, str]:
    """``environ`` without the secrets that unlocked the key (``secret_names``): the command gets
    the token it needs, never what unlocked the key."""
    secret = secret_names(settings)
    return {name: value for name, value in environ.items() if name not in secret}


def _record_for_fast_path(
    context: CommandContext, settings: Settings, outcome: Outcome, variables: dict[str, str]
) -> None:
    """Let the next ``exec`` with the same options (whatever its command) become its command
    from the fast path (``fast_path.exec_plan``), while the token is fresh: the recipe of this
    environment, the names to remove and the variables to add, the token left in the entry
    (``exec_recipe.py``). Nothing is recorded when the token cannot be left out."""
    from ..cache.disk import read_private_file, split_entry
    from ..exec_recipe import encode_recipe
    from .get_command import record_for_fast_path

    entry = read_private_file(str(outcome.entry_path))
    lines = split_entry(entry) if entry is not None else None
    if lines is None or lines.header != outcome.entry_header:
        return  # refreshed meanwhile by another process: the next exec records the new one
    recipe = encode_recipe(
        remove=sorted(secret_names(settings)),
        variables=variables,
        token=outcome.credential.access_token,
        credential_line=lines.credential_line,
    )
    if recipe is not None:
        record_for_fast_path(context, settings, outcome, recipe)
