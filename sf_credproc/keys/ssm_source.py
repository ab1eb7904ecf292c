"""``ssm:<parameter name or ARN>``: a private key in an SSM Parameter Store ``SecureString``.

The parameter holds a bare, unencrypted PEM (KMS encrypts the parameter itself); there is no place
for a passphrase, and a plain ``String`` is refused: private keys belong encrypted (SSM
``GetParameter`` API reference, ``WithDecryption``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..aws_errors import AWS_ERRORS, AwsTarget, translate_aws_error
from ..errors import KeySourceError
from .pem import PassphraseHints, load_rsa_private_key

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    from ..config.key_uri import KeyUri
    from .source import AwsClientFactory, KeySourceContext

#: An SSM parameter holds a bare PEM and nothing else: there is no place for a passphrase.
PARAMETER_PASSPHRASE = PassphraseHints(
    missing=(
        "ssm: keys cannot be unlocked (SF_CREDPROC_KEY_PASSPHRASE does not apply to them): store "
        "the PEM unencrypted in the SecureString, which KMS encrypts, or use secretsmanager: with "
        "a 'passphrase' field"
    ),
    wrong="Store the PEM unencrypted in the SecureString",
)


@dataclass(frozen=True)
class SsmParameterKeySource:
    """The decrypted value of one ``SecureString`` parameter."""

    uri: KeyUri
    aws: AwsClientFactory

    @classmethod
    def from_uri(cls, uri: KeyUri, context: KeySourceContext) -> SsmParameterKeySource:
        return cls(uri, context.aws)

    def load_key(self) -> RSAPrivateKey:
        return load_rsa_private_key(
            self._read_parameter(), where=str(self.uri), passphrase_hints=PARAMETER_PASSPHRASE
        )

    def _read_parameter(self) -> bytes:
        where = str(self.uri)
        target = AwsTarget(
            "ssm:GetParameter", where, also_needs="kms:Decrypt on the parameter's KMS key"
        )
        client = self.aws.client("ssm", region=self.uri.region)
        try:
            response: dict[str, Any] = client.get_parameter(
                Name=self.uri.target, WithDecryption=True
            )
        except AWS_ERRORS as error:
            raise translate_aws_error(error, target) from error
        parameter = response.get("Parameter", {})
        if parameter.get("Type") != "SecureString":
            raise KeySourceError(
                f"{where} is a {parameter.get('Type', 'plain')} parameter, not a SecureString",
                hint="Store private keys only as SecureString parameters (they are encrypted "
                "with KMS)",
            )
        return str(parameter.get("Value", "")).encode("utf-8", "surrogateescape")
