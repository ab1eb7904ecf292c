"""``sf-credproc get``: print the credential (README, "Using it"; the output contract in
``credential.py``), and remember the invocation for the cache-hit fast path."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from .. import log
from ..config.serve_options import uses_endpoint
from ..errors import ConfigError, ExitStatus
from .context import CommandContext
from .standard_streams import write_output

if TYPE_CHECKING:
    from ..cache.port import Outcome
    from ..config.settings import Settings
    from ..server_client import ServerEndpoint


def run(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    from ..formats import PURE_FORMATS, github_env_lines, render

    settings, outcome = obtain(args, context)
    text = render(outcome.credential, settings.output_format)
    if settings.output_format == "github":
        _append_github_env(settings.github_env, github_env_lines(outcome.credential))
    # One write, after everything succeeded: a consumer never sees half a credential.
    write_output(context.stdout, text, cached=outcome.entry_path is not None)
    # A report of a rejected token is answered by the full command only, every time.
    plain = not (settings.refresh or settings.verbose or settings.rejected_sha256)
    if outcome.entry_path and plain and settings.output_format in PURE_FORMATS:
        record_for_fast_path(context, settings, outcome, text.encode("utf-8"))
    return ExitStatus.OK


def record_for_fast_path(
    context: CommandContext, settings: Settings, outcome: Outcome, output: bytes
) -> None:
    """Let the next identical invocation be answered without resolving anything, while the token
    is fresh by this host's advisory window (a token served in a refresh window is not recorded:
    the fast path would never serve it). ``output``: what ``get`` printed, or ``exec``'s recipe."""
    from ..cache.disk import advisory_seconds, is_fresh, this_host
    from ..compose import cache_identity
    from ..fast_path import record_invocation

    stem = cache_identity(settings).file_stem
    advisory = advisory_seconds(settings.min_ttl_seconds, stem, this_host())
    expiration = outcome.credential.expiration
    if not is_fresh(expiration, context.clock.time(), advisory, settings.session_ttl_seconds):
        return
    record_invocation(
        list(context.argv),
        context.environ,
        entry_path=str(outcome.entry_path),
        entry_header=outcome.entry_header,
        advisory_seconds=advisory,
        session_ttl_seconds=settings.session_ttl_seconds,
        output=output,
    )


def obtain(args: argparse.Namespace, context: CommandContext) -> tuple[Settings, Outcome]:
    """Resolve the settings and obtain the credential, the cache included (``get`` and ``exec``).

    With ``SF_CREDPROC_SERVER_URL`` or ``SF_CREDPROC_SERVER_SOCKET`` set, from that running
    endpoint instead (``_obtain_from_endpoint``); but never for ``exec --server``, which is an
    endpoint itself: it logs in with its own settings, and its child gets its own variables."""
    from ..compose import CredentialPipeline
    from .stderr_log import show_progress

    serves = bool(getattr(args, "server", False))
    if not serves and uses_endpoint(context.environ):
        from ..server_client import ServerEndpoint  # ssl and http.client: only for an endpoint

        endpoint = ServerEndpoint.from_environment(context.environ)
        if endpoint is not None:
            return _obtain_from_endpoint(endpoint, args, context)
    resolved = context.resolve(args)
    settings = resolved.settings
    show_progress(settings.verbose)
    log.info(
        "settings",
        f"profile {settings.profile or '(none)'} from {settings.config_path}; "
        f"login URL {settings.login_url.base}; audience {settings.audience}",
        profile=settings.profile,
        login_url=settings.login_url.base,
        audience=settings.audience,
    )
    pipeline = CredentialPipeline(settings, clock=context.clock, environ=context.environ)
    return settings, pipeline.obtain(deadline=resolved.deadline)


def _obtain_from_endpoint(
    endpoint: ServerEndpoint, args: argparse.Namespace, context: CommandContext
) -> tuple[Settings, Outcome]:
    """The credential a running endpoint serves: only the settings given are resolved (no key,
    no client id), ``--rejected-sha256`` is sent along, an explicit username must be the one
    served (``server_use.py``). Nothing is cached here: the endpoint has it in memory, so the
    fast path never answers for it either."""
    from ..cache.port import Outcome
    from ..server_use import NEEDS_NOTHING, check_identity, say_ignored
    from .stderr_log import show_progress

    resolved = context.resolve(args, needs=NEEDS_NOTHING)
    settings = resolved.settings
    show_progress(settings.verbose)
    log.info(
        "settings", f"credential from the endpoint ({endpoint.where})", endpoint=endpoint.where
    )
    say_ignored(settings)
    credential = endpoint.fetch(
        rejected_sha256=settings.rejected_sha256, deadline=resolved.deadline
    )
    check_identity(settings, credential, endpoint.where)
    return settings, Outcome(credential, None)


def _append_github_env(path: str | None, lines: str) -> None:
    """Append to GitHub Actions' environment file, which later steps of the job read."""
    if not path:
        raise ConfigError(
            "--format github needs $GITHUB_ENV, which is not set",
            hint="Use it inside a GitHub Actions step, or choose --format env",
        )
    try:
        # O_NONBLOCK: a FIFO at that path with no reader fails at once instead of waiting forever.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC
        with open(os.open(path, flags, 0o644), "a", encoding="utf-8") as handle:
            handle.write(lines)
    except OSError as error:
        raise ConfigError(
            f"cannot append to $GITHUB_ENV {path} ({error.strerror})",
            hint="Run inside a GitHub Actions step",
        ) from error
