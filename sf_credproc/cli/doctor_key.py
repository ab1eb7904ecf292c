"""``doctor``'s key checks: the key source opens, the key signs a probe, and for a remote signer its
public key (read as ``cert`` reads it) verifies that probe."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING

from ..errors import CredProcError, ExitStatus, InternalError
from .doctor_report import PROBE, Check, failed

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    from ..aws import AwsClients
    from ..clock import Clock
    from ..config.settings import Settings
    from ..deadline import Deadline
    from ..keys.remote_key import RemoteRsaPrivateKey
    from ..keys.source import KeySource


def key_checks_of(
    settings: Settings,
    aws: AwsClients,
    environ: Mapping[str, str],
    deadline: Deadline,
    clock: Clock,
    stack: ExitStack,
) -> tuple[KeySource | None, RSAPrivateKey | None, list[Check]]:
    """The key source, opened for the rest of the checks (``stack`` closes it), the key, and its
    checks: a probe signature (for a remote signer, proof that the sign permission works), then for
    a remote key its public key, read as ``cert`` reads it, against that signature."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from ..compose import open_key_source
    from ..keys.remote_key import RemoteRsaPrivateKey

    if settings.key is None:  # the resolver requires it
        raise InternalError("doctor resolved no --key", hint="This is a bug; report it")
    try:
        source = stack.enter_context(
            open_key_source(settings, aws, environ, deadline=deadline, clock=clock)
        )
    except CredProcError as error:
        return None, None, [failed("key", error)]
    try:
        key = source.load_key()
        signature = key.sign(PROBE, padding.PKCS1v15(), hashes.SHA256())
    except CredProcError as error:
        return source, None, [failed("key", error)]
    if not isinstance(key, RemoteRsaPrivateKey):
        detail = f"{settings.key}: RSA {key.key_size}-bit private key, loaded locally"
        return source, key, [Check("key", "ok", detail)]
    checks = [
        Check("key", "ok", f"{settings.key}: RSA {key.key_size}-bit private key, {key.describe()}")
    ]
    return source, key, [*checks, _public_key(key, signature)]


def _public_key(key: RemoteRsaPrivateKey, signature: bytes) -> Check:
    """The remote key's public half (what ``cert`` puts in the certificate) checked against the
    probe signature it just made. Reading it is a set-up permission that ``get`` does not need:
    a refusal to read it is a skip, not a failure."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from ..keys.remote_key import UnsuitableKeyError

    try:
        public = key.public_key()
    except UnsuitableKeyError as error:
        # Read, and not a key for RS256 (another algorithm): what signs the assertion is wrong.
        return failed("public key", error)
    except CredProcError as error:
        return Check(
            "public key",
            "skipped",
            f"{error.message} (get does not need it; cert does)",
            error.hint or "",
        )
    try:
        public.verify(signature, PROBE, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return Check(
            "public key",
            "FAILED",
            f"{key.name} signs with another key than the public key it reports, {key.describe()}",
            "Pin the key version the connected app's certificate was made from, or make a new "
            "certificate (sf-credproc cert) and upload it",
            ExitStatus.KEY_SOURCE,
        )
    return Check(
        "public key",
        "ok",
        f"RSA {public.key_size}-bit, {key.describe()}; it verifies the key's signature",
    )
