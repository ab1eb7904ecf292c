"""Turn key material (PEM or DER bytes) into an RSA private key fit for RS256, or say why not.

Salesforce verifies JWT bearer assertions with RS256 only (RFC 7518 section 3.3), and RFC 7518 requires
RSA keys of 2048 bits or more. Error messages describe the material, never quote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from ..errors import KeySourceError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

MIN_RSA_BITS = 2048
#: A 16384-bit RSA key in PEM is under 13 KiB; anything far larger is not a key.
MAX_KEY_MATERIAL_BYTES = 64 * 1024

_NOT_PRIVATE_MARKERS = (
    (b"-----BEGIN CERTIFICATE-----", "a certificate"),
    (b"-----BEGIN PUBLIC KEY-----", "a public key"),
    (b"-----BEGIN RSA PUBLIC KEY-----", "a public key"),
    (b"-----BEGIN CERTIFICATE REQUEST-----", "a certificate signing request"),
    (b"ssh-rsa ", "an OpenSSH public key"),
)


class PassphraseHints(NamedTuple):
    """What to do about an encrypted key, which depends on where a source takes its passphrase."""

    missing: str
    wrong: str


#: ``file:`` and ``env:`` keys are unlocked by the environment variable.
ENVIRONMENT_PASSPHRASE = PassphraseHints(
    missing="Set SF_CREDPROC_KEY_PASSPHRASE to the key's passphrase",
    wrong="Check SF_CREDPROC_KEY_PASSPHRASE",
)

#: The OpenSSH format is not PKCS#8, and ``openssl pkcs8`` cannot read it; ``ssh-keygen -p``
#: rewrites the file in place, hence the copy.
OPENSSH_HINT = (
    "Convert a copy of it (ssh-keygen rewrites the file in place): "
    "cp KEYFILE COPY && ssh-keygen -p -m PKCS8 -f COPY, then use COPY"
)


def load_rsa_private_key(
    material: bytes,
    *,
    where: str,
    passphrase: bytes | None = None,
    passphrase_hints: PassphraseHints = ENVIRONMENT_PASSPHRASE,
) -> RSAPrivateKey:
    """Load ``material`` (PEM or DER, optionally encrypted) as an RSA private key of >= 2048 bits.

    ``where`` names the source in error messages (for example ``secretsmanager:sf/jwt-key``);
    ``passphrase_hints`` say where that source takes a passphrase from.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import (
        load_der_private_key,
        load_pem_private_key,
    )

    use = "Store an RSA private key of 2048 bits or more in PEM (PKCS#8 or PKCS#1) or DER form"
    if len(material) > MAX_KEY_MATERIAL_BYTES:
        raise KeySourceError(
            f"{where} holds {len(material)} bytes, far too many for a key", hint=use
        )
    stripped = material.strip()
    if not stripped.startswith(b"-----BEGIN"):
        # DER is binary: a whitespace byte at either end is part of the key, not padding.
        stripped = material
    if not stripped.strip():
        raise KeySourceError(f"{where} is empty", hint=use)
    for marker, what in _NOT_PRIVATE_MARKERS:
        if marker in stripped and b"PRIVATE KEY-----" not in stripped:
            raise KeySourceError(f"{where} holds {what}, not a private key", hint=use)
    is_pem = stripped.startswith(b"-----BEGIN")
    if is_pem and b"OPENSSH PRIVATE KEY" in stripped:
        raise KeySourceError(f"{where} holds an OpenSSH-format private key", hint=OPENSSH_HINT)
    load = load_pem_private_key if is_pem else load_der_private_key
    # A PEM says whether it is encrypted; a DER does not, so it is tried with the passphrase first.
    encrypted = b"ENCRYPTED" in stripped if is_pem else passphrase is not None
    # "from None" on every error below: cryptography's parse errors describe the key material
    # they failed on (ASN.1 details of the private key), so they must not travel on as causes.
    try:
        try:
            key = load(stripped, password=passphrase if encrypted else None)
        except TypeError:
            if is_pem or passphrase is None:
                raise
            # DER: "password given but the key is not encrypted"; a global passphrase is harmless.
            encrypted = False
            key = load(stripped, password=None)
    except TypeError:
        raise KeySourceError(
            f"{where} holds an encrypted private key and no passphrase was given",
            hint=passphrase_hints.missing,
        ) from None
    except ValueError:
        if encrypted and passphrase is not None and (is_pem or stripped[:1] == b"\x30"):
            # An encrypted DER looks like any other DER (an ASN.1 SEQUENCE, 0x30) until decrypted.
            problem = (
                "the passphrase does not unlock" if is_pem else "the passphrase may not unlock"
            )
            raise KeySourceError(
                f"{where}: {problem} the encrypted private key",
                hint=passphrase_hints.wrong,
            ) from None
        raise KeySourceError(f"{where} does not hold a readable private key", hint=use) from None
    except UnsupportedAlgorithm:
        raise KeySourceError(f"{where} holds a key of an unsupported type", hint=use) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = type(key).__name__.replace("PrivateKey", "").lstrip("_") or "non-RSA"
        article = "an" if kind[:1] in "AEIOU" else "a"
        raise KeySourceError(
            f"{where} holds {article} {kind} key; Salesforce accepts RS256 (RSA) assertions only",
            hint=use,
        )
    if key.key_size < MIN_RSA_BITS:
        raise KeySourceError(
            f"{where} holds a {key.key_size}-bit RSA key; RS256 needs {MIN_RSA_BITS} bits or more",
            hint="Generate a new key: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048",
        )
    return key


#: The field of a JSON or KV secret that may hold the passphrase of its encrypted PEM.
PASSPHRASE_FIELD = "passphrase"


def pem_and_passphrase(
    fields: Mapping[str, object], field: str, *, where: str, what: str, store_hint: str
) -> tuple[bytes, bytes | None]:
    """The PEM in ``fields[field]`` and the optional ``passphrase`` field beside it, as a Secrets
    Manager JSON secret and a Vault KV secret both hold them; ``what`` names the secret in
    messages ("the JSON secret"), which never quote a value."""
    value = fields.get(field)
    if not isinstance(value, str) or not value.strip():
        raise KeySourceError(f"{where}: {what} has no string field {field!r}", hint=store_hint)
    passphrase = fields.get(PASSPHRASE_FIELD)
    if passphrase is not None and not isinstance(passphrase, str):
        raise KeySourceError(
            f"{where}: {what}'s {PASSPHRASE_FIELD!r} field is not a string",
            hint="Store the passphrase as a string",
        )
    unlock = passphrase.encode("utf-8") if passphrase else None
    return value.encode("utf-8", "surrogateescape"), unlock
