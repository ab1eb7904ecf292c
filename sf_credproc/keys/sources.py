"""Fetch the signing key named by a ``KeyUri`` and return it as an ``RSAPrivateKey``.

KMS keys come back as ``KmsRsaPrivateKey`` (nothing is fetched: KMS signs); Secrets Manager,
SSM Parameter Store, files and environment variables yield PEM or DER material loaded locally.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..aws import AWS_ERRORS, AwsClients, AwsTarget, translate_aws_error
from ..config.key_uri import DEFAULT_SECRET_FIELD, KeyUri
from ..errors import KeySourceError
from ..local_files import FileTooLargeError, NotRegularFileError, read_regular_file
from .pem import MAX_KEY_MATERIAL_BYTES, PassphraseHints, load_rsa_private_key

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

PASSPHRASE_FIELD = "passphrase"

#: ``SF_CREDPROC_KEY_PASSPHRASE`` unlocks ``file:`` and ``env:`` keys only; a secret carries its own.
SECRET_PASSPHRASE = PassphraseHints(
    missing=(
        "SF_CREDPROC_KEY_PASSPHRASE does not apply to secretsmanager: keys. Store the secret as a "
        'JSON object, {"private_key": "<the PEM>", "passphrase": "..."} (private_key, or the '
        "#field named), or store the PEM unencrypted"
    ),
    wrong="Check the 'passphrase' field of the JSON secret",
)
#: An SSM parameter holds a bare PEM and nothing else: there is no place for a passphrase.
PARAMETER_PASSPHRASE = PassphraseHints(
    missing=(
        "ssm: keys cannot be unlocked (SF_CREDPROC_KEY_PASSPHRASE does not apply to them): store "
        "the PEM unencrypted in the SecureString, which KMS encrypts, or use secretsmanager: with "
        "a 'passphrase' field"
    ),
    wrong="Store the PEM unencrypted in the SecureString",
)


def load_signing_key(
    uri: KeyUri,
    *,
    aws: AwsClients,
    environ: Mapping[str, str],
    passphrase: str | None,
) -> RSAPrivateKey:
    """Return the RSA private key ``uri`` names; ``passphrase`` unlocks ``file:``/``env:`` PEMs."""
    where = str(uri)
    if uri.scheme == "kms":
        from .kms_key import KmsRsaPrivateKey

        return KmsRsaPrivateKey(
            uri.target, client_factory=lambda: aws.client("kms", region=uri.region)
        )
    if uri.scheme == "secretsmanager":
        material, secret_passphrase = _read_secret(uri, aws)
        return load_rsa_private_key(
            material,
            where=where,
            passphrase=secret_passphrase,
            passphrase_hints=SECRET_PASSPHRASE,
        )
    if uri.scheme == "ssm":
        return load_rsa_private_key(
            _read_parameter(uri, aws), where=where, passphrase_hints=PARAMETER_PASSPHRASE
        )
    if uri.scheme == "env":
        value = environ.get(uri.target)
        if not value:
            raise KeySourceError(
                f"{where}: the environment variable is not set or empty",
                hint=f"Export {uri.shown_target} with the PEM private key",
            )
        if "\n" not in value and "\\n" in value:
            # CI secret stores often hold a PEM on one line with literal "\n" escapes.
            value = value.replace("\\n", "\n")
        material = value.encode("utf-8", "surrogateescape")
    else:
        material = _read_file(uri.target, where)
    unlock = passphrase.encode("utf-8") if passphrase else None
    return load_rsa_private_key(material, where=where, passphrase=unlock)


def _read_file(path: str, where: str) -> bytes:
    full = os.path.expanduser(path)
    try:
        # A FIFO or a device named by mistake must fail at once, not block or fill memory.
        return read_regular_file(full, MAX_KEY_MATERIAL_BYTES)
    except FileNotFoundError:
        raise KeySourceError(f"{where}: no such file", hint="Check the path after file:") from None
    except NotRegularFileError as error:
        raise KeySourceError(
            f"{where} is {error.kind}, not a key file", hint="Name the key file itself"
        ) from None
    except FileTooLargeError as error:
        raise KeySourceError(
            f"{where} holds {error.size} bytes, far too many for a key",
            hint="Name the PEM or DER private key file itself",
        ) from None
    except PermissionError:
        raise KeySourceError(
            f"{where}: permission denied", hint="Make the key file readable by this user"
        ) from None
    except OSError as error:
        raise KeySourceError(
            f"{where} cannot be read ({error.strerror})", hint="Check the path after file:"
        ) from None


def _read_secret(uri: KeyUri, aws: AwsClients) -> tuple[bytes, bytes | None]:
    """The key material and passphrase stored in a Secrets Manager secret's current version."""
    where = str(uri)
    target = AwsTarget(
        "secretsmanager:GetSecretValue",
        where,
        also_needs="kms:Decrypt on the secret's KMS key, if it is a customer managed key",
    )
    client = aws.client("secretsmanager", region=uri.region)
    try:
        # Ask for AWSCURRENT explicitly: a rotation in progress must not hand out AWSPENDING.
        response: dict[str, Any] = client.get_secret_value(
            SecretId=uri.target, VersionStage="AWSCURRENT"
        )
    except AWS_ERRORS as error:
        raise translate_aws_error(error, target) from None
    if "SecretBinary" in response and response["SecretBinary"] is not None:
        if uri.field:
            raise KeySourceError(
                f"{where}: a #field was given but the secret is binary",
                hint="Drop the #field, or store the key as a JSON SecretString",
            )
        return bytes(response["SecretBinary"]), None
    text = response.get("SecretString") or ""
    if text.lstrip().startswith("-----BEGIN") and not uri.field:
        return text.encode("utf-8", "surrogateescape"), None
    return _key_from_json_secret(text, uri)


def _key_from_json_secret(text: str, uri: KeyUri) -> tuple[bytes, bytes | None]:
    where = str(uri)
    field = uri.field or DEFAULT_SECRET_FIELD
    store = f'Store the PEM itself, or a JSON object like {{"{field}": "-----BEGIN PRIVATE KEY-----..."}}'
    try:
        document = json.loads(text)
    except ValueError:
        raise KeySourceError(
            f"{where} holds neither a PEM private key nor a JSON object", hint=store
        ) from None
    if not isinstance(document, dict):
        raise KeySourceError(f"{where} holds JSON that is not an object", hint=store)
    value = document.get(field)
    if not isinstance(value, str) or not value.strip():
        raise KeySourceError(f"{where}: the JSON secret has no string field {field!r}", hint=store)
    passphrase = document.get(PASSPHRASE_FIELD)
    if passphrase is not None and not isinstance(passphrase, str):
        raise KeySourceError(
            f"{where}: the JSON secret's {PASSPHRASE_FIELD!r} field is not a string",
            hint="Store the passphrase as a JSON string",
        )
    unlock = passphrase.encode("utf-8") if passphrase else None
    return value.encode("utf-8", "surrogateescape"), unlock


def _read_parameter(uri: KeyUri, aws: AwsClients) -> bytes:
    """The decrypted value of an SSM SecureString parameter."""
    where = str(uri)
    target = AwsTarget(
        "ssm:GetParameter", where, also_needs="kms:Decrypt on the parameter's KMS key"
    )
    client = aws.client("ssm", region=uri.region)
    try:
        response: dict[str, Any] = client.get_parameter(Name=uri.target, WithDecryption=True)
    except AWS_ERRORS as error:
        raise translate_aws_error(error, target) from None
    parameter = response.get("Parameter", {})
    if parameter.get("Type") != "SecureString":
        raise KeySourceError(
            f"{where} is a {parameter.get('Type', 'plain')} parameter, not a SecureString",
            hint="Store private keys only as SecureString parameters (they are encrypted with KMS)",
        )
    return str(parameter.get("Value", "")).encode("utf-8", "surrogateescape")
