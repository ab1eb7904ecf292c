"""``secretsmanager:<name or ARN>[#field]``: a private key stored in AWS Secrets Manager.

The secret's ``AWSCURRENT`` version holds a PEM ``SecretString``; or a JSON object whose ``field``
(default ``private_key``) holds the PEM, with an optional ``passphrase`` field; or a PEM or DER
``SecretBinary`` (Secrets Manager ``GetSecretValue`` API reference).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..aws_errors import AWS_ERRORS, AwsTarget, translate_aws_error
from ..config.key_uri import DEFAULT_SECRET_FIELD
from ..errors import KeySourceError
from .pem import PassphraseHints, load_rsa_private_key, pem_and_passphrase

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    from ..config.key_uri import KeyUri
    from .source import AwsClientFactory, KeySourceContext


#: ``SF_CREDPROC_KEY_PASSPHRASE`` unlocks ``file:`` and ``env:`` keys only; a secret carries its own.
SECRET_PASSPHRASE = PassphraseHints(
    missing=(
        "SF_CREDPROC_KEY_PASSPHRASE does not apply to secretsmanager: keys. Store the secret as a "
        'JSON object, {"private_key": "<the PEM>", "passphrase": "..."} (private_key, or the '
        "#field named), or store the PEM unencrypted"
    ),
    wrong="Check the 'passphrase' field of the JSON secret",
)


@dataclass(frozen=True)
class SecretsManagerKeySource:
    """The key (and its passphrase, if any) in one secret's current version."""

    uri: KeyUri
    aws: AwsClientFactory

    @classmethod
    def from_uri(cls, uri: KeyUri, context: KeySourceContext) -> SecretsManagerKeySource:
        return cls(uri, context.aws)

    def load_key(self) -> RSAPrivateKey:
        material, passphrase = self._read_secret()
        return load_rsa_private_key(
            material,
            where=str(self.uri),
            passphrase=passphrase,
            passphrase_hints=SECRET_PASSPHRASE,
        )

    def _read_secret(self) -> tuple[bytes, bytes | None]:
        """The key material and passphrase stored in the secret's current version."""
        uri = self.uri
        where = str(uri)
        target = AwsTarget(
            "secretsmanager:GetSecretValue",
            where,
            also_needs="kms:Decrypt on the secret's KMS key, if it is a customer managed key",
        )
        client = self.aws.client("secretsmanager", region=uri.region)
        try:
            # Ask for AWSCURRENT explicitly: a rotation in progress must not hand out AWSPENDING.
            response: dict[str, Any] = client.get_secret_value(
                SecretId=uri.target, VersionStage="AWSCURRENT"
            )
        except AWS_ERRORS as error:
            raise translate_aws_error(error, target) from error
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
        return key_from_json_secret(text, uri)


def key_from_json_secret(text: str, uri: KeyUri) -> tuple[bytes, bytes | None]:
    """The PEM in field ``uri.field`` (default ``private_key``) and the optional passphrase."""
    where = str(uri)
    field = uri.field or DEFAULT_SECRET_FIELD
    store = f'Store the PEM itself, or a JSON object like {{"{field}": "-----BEGIN PRIVATE KEY-----..."}}'
    try:
        document = json.loads(text)
    except ValueError:
        # from None: a JSONDecodeError keeps the whole document (.doc), the private key included.
        raise KeySourceError(
            f"{where} holds neither a PEM private key nor a JSON object", hint=store
        ) from None
    if not isinstance(document, dict):
        raise KeySourceError(f"{where} holds JSON that is not an object", hint=store)
    return pem_and_passphrase(
        document, field, where=where, what="the JSON secret", store_hint=store
    )
