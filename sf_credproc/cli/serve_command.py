"""``sf-credproc serve``: the local credential endpoint (README, "A local credential endpoint").

The flags are checked before any work (aws-vault's ``validate()``): ``--listen`` with
``--socket``, one TLS half, a non-loopback address without TLS, ``--format github``. Then the
settings resolve, the watchdog is disarmed (a server outlives ``--timeout``; each refresh keeps its
own deadline), the token is found, the address bound, and the one stdout line printed: the URL of
``/credential``, or ``unix:`` and the socket's path. The first login happens in the background.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..config.serve_options import SERVER_TOKEN_ENV
from ..errors import ConfigError, ExitStatus
from . import watchdog
from .context import CommandContext

if TYPE_CHECKING:
    from ..config.settings import Settings
    from ..serve.runner import ListenSpec


def run(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    from ..serve import listen as listening
    from ..serve.runner import Endpoint, access_line, check_format
    from ..serve.server_token import resolve_server_token
    from .stderr_log import show_progress

    spec = _validated_spec(args, context)
    if getattr(args, "format", None):
        check_format(args.format)
    if spec.socket_path is None:
        listening.check_exposure(
            listening.parse_listen(spec.listen), tls=bool(spec.tls_cert and spec.tls_key)
        )
    settings = context.resolve(args).settings
    watchdog.disarm()  # a server outlives --timeout; every refresh has its own deadline
    show_progress(settings.verbose)
    token = resolve_server_token(context.environ, args.server_token_file)

    def resolver() -> Settings:
        try:
            return context.resolve(args).settings
        finally:
            watchdog.disarm()

    def access(method: str, path: str, status: int, ms: float, token_tag: str | None) -> None:
        fields: dict[str, Any] = {
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": ms,
        }
        if token_tag is not None:
            fields["token"] = token_tag
        context.log.say("access", access_line(method, path, status, ms, token_tag), **fields)

    endpoint = Endpoint(
        settings,
        clock=context.clock,
        environ=context.environ,
        server_token=token.value,
        listen=spec,
        access_log=None if args.no_access_log else access,
        resolver=resolver,
        announce=context.log.say,
    )

    def on_ready(url: str) -> None:
        context.stdout.write(url + "\n")
        context.stdout.flush()
        if token.generated_path is not None:
            context.log.say(
                "server-token",
                f"server token written to {token.generated_path} (clients send it as "
                f"Authorization; or set ${SERVER_TOKEN_ENV})",
                path=token.generated_path,
            )

    return endpoint.run(on_ready)


def _validated_spec(args: argparse.Namespace, context: CommandContext) -> ListenSpec:
    from ..serve import listen as listening
    from ..serve.runner import ListenSpec

    listen_given = any(arg == "--listen" or arg.startswith("--listen=") for arg in context.argv)
    if args.socket and listen_given:
        raise ConfigError("--listen and --socket exclude each other", hint="Give one of them")
    listening.check_tls_flags(args.tls_cert, args.tls_key)
    if args.socket and args.tls_cert:
        raise ConfigError(
            "--tls-cert applies to --listen, not to --socket",
            hint="A Unix socket is protected by its file permissions; drop --tls-cert and --tls-key",
        )
    return ListenSpec(
        listen=args.listen, socket_path=args.socket, tls_cert=args.tls_cert, tls_key=args.tls_key
    )
