"""``sf-credproc cert``: make the app's certificate (or a CSR) with the signing key.

The app is a connected app or an External Client App; stderr says where the certificate goes.
"""

from __future__ import annotations

import argparse

from ..compose import AwsSession, open_key_source
from ..errors import ConfigError, ExitStatus, InternalError
from ..keys.certificates import (
    DEFAULT_SUBJECT,
    PRE_AUTHORIZE_STEPS,
    UPLOAD_STEPS,
    make_certificate,
    make_csr,
    parse_subject,
)
from .context import CommandContext

KEY_ONLY = frozenset({"key"})


def run(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    resolved = context.resolve(args, needs=KEY_ONLY)
    settings = resolved.settings
    subject = parse_subject(args.subject or DEFAULT_SUBJECT)
    if settings.key is None:  # KEY_ONLY makes the resolver require it
        raise InternalError("cert resolved no --key", hint="This is a bug; report it")
    # The key is read through the pieces get uses (compose.py): the same AWS session and key
    # source, their timeouts cut from the command's deadline.
    aws = AwsSession(settings).clients(resolved.deadline)
    with open_key_source(
        settings, aws, context.environ, deadline=resolved.deadline, clock=context.clock
    ) as source:
        key = source.load_key()
        if args.csr:
            document = make_csr(key, subject)
            what = "certificate signing request"
            next_steps = f"have your CA sign it, then {UPLOAD_STEPS}; then {PRE_AUTHORIZE_STEPS}"
        else:
            document = make_certificate(key, subject, days=args.days, now=context.clock.time())
            what = "certificate"
            next_steps = f"{UPLOAD_STEPS}; then {PRE_AUTHORIZE_STEPS}"
    if args.out:
        _write_public_file(args.out, document.pem)
    else:
        context.stdout.write(document.pem.decode("ascii"))
        context.stdout.flush()
    until = f", valid until {document.not_after:%Y-%m-%dT%H:%M:%SZ}" if document.not_after else ""
    context.log.say(
        "cert",
        f"{what} for {settings.key} ({subject.rfc4514_string()}{until}); "
        f"SHA-256 fingerprint {document.fingerprint}",
        fingerprint=document.fingerprint,
    )
    context.log.say("cert", f"next, {next_steps}")
    return ExitStatus.OK


def _write_public_file(path: str, data: bytes) -> None:
    """Write a certificate (public material): atomically, readable by others, never through a
    symbolic link planted at a predictable temporary name."""
    from ..local_files import replace_public_file

    try:
        replace_public_file(path, data)
    except OSError as error:
        raise ConfigError(
            f"cannot write --out {path} ({error.strerror})", hint="Choose a writable path"
        ) from error
