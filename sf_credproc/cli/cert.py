"""``sf-credproc cert``: make the app's certificate (or a CSR) with the signing key.

The app is a connected app or an External Client App; stderr says where the certificate goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

from ..aws import AwsClients
from ..clock import Clock
from ..config.settings import resolve_settings
from ..deadline import Deadline
from ..errors import ConfigError, ExitStatus
from ..keys.certificates import (
    DEFAULT_SUBJECT,
    PRE_AUTHORIZE_STEPS,
    UPLOAD_STEPS,
    make_certificate,
    make_csr,
    parse_subject,
)
from ..keys.sources import load_signing_key
from ..log import one_line
from . import watchdog

KEY_ONLY = frozenset({"key"})


def run_cert(
    flags: dict[str, Any], environ: Mapping[str, str], out: TextIO, err: TextIO, clock: Clock
) -> int:
    settings = resolve_settings(flags, environ, needs=KEY_ONLY)
    watchdog.arm(settings.timeout_seconds)
    subject = parse_subject(flags.get("subject") or DEFAULT_SUBJECT)
    assert settings.key is not None  # required by KEY_ONLY
    deadline = Deadline(settings.timeout_seconds, clock)
    aws = AwsClients.for_settings(settings, deadline)
    key = load_signing_key(
        settings.key, aws=aws, environ=environ, passphrase=settings.key_passphrase
    )
    if flags.get("csr"):
        document = make_csr(key, subject)
        what = "certificate signing request"
        next_steps = f"have your CA sign it, then {UPLOAD_STEPS}; then {PRE_AUTHORIZE_STEPS}"
    else:
        document = make_certificate(key, subject, days=flags["days"], now=clock.time())
        what = "certificate"
        next_steps = f"{UPLOAD_STEPS}; then {PRE_AUTHORIZE_STEPS}"
    if flags.get("out"):
        _write_public_file(flags["out"], document.pem)
    else:
        out.write(document.pem.decode("ascii"))
        out.flush()
    until = f", valid until {document.not_after:%Y-%m-%dT%H:%M:%SZ}" if document.not_after else ""
    said = (
        f"{what} for {settings.key} ({subject.rfc4514_string()}{until}); "
        f"SHA-256 fingerprint {document.fingerprint}"
    )
    err.write(f"sf-credproc: {one_line(said)}\nsf-credproc: next, {next_steps}\n")
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
        ) from None
