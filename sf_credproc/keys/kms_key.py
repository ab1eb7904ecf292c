"""An RSA private key that lives in AWS KMS: ``sign()`` calls KMS ``Sign``; the key never leaves.

At run time it needs only ``kms:Sign`` with ``RSASSA_PKCS1_V1_5_SHA_256`` and ``MessageType=RAW``
(KMS Sign API reference: RAW messages up to 4096 bytes are hashed by KMS); ``cert`` and ``doctor``
read the public key with ``kms:GetPublicKey``. What every remote key shares (RS256 only, the key
size learned from the signature, no export) is ``remote_key.RemoteRsaPrivateKey``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from ..aws_errors import AWS_ERRORS, AwsTarget, translate_aws_error
from ..errors import KeySourceError
from .remote_key import MIN_RSA_BITS, RemoteRsaPrivateKey

SIGNING_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"
#: KMS's limit for MessageType=RAW; a JWT signing input is a few hundred bytes.
MAX_RAW_MESSAGE_BYTES = 4096
#: KMS's smallest RSA key spec (RSA_2048): what key_size reports before KMS has told us more.
KMS_MIN_RSA_BITS = MIN_RSA_BITS


class KmsClient(Protocol):
    """The two KMS calls the key makes (a boto3 ``kms`` client has them)."""

    def sign(
        self, *, KeyId: str, Message: bytes, MessageType: str, SigningAlgorithm: str
    ) -> Mapping[str, Any]: ...

    def get_public_key(self, *, KeyId: str) -> Mapping[str, Any]: ...


class KmsRsaPrivateKey(RemoteRsaPrivateKey):
    """An ``RSAPrivateKey`` whose private half stays in KMS (every KMS RSA key spec meets RS256's
    2048-bit minimum, so the run-time path needs no ``kms:DescribeKey`` or ``kms:GetPublicKey``)."""

    key_hint = "Use a KMS key with KeySpec RSA_2048, RSA_3072 or RSA_4096"

    def __init__(self, key_id: str, client_factory: Callable[[], KmsClient]) -> None:
        """``client_factory`` makes a KMS client per call, so that each call gets timeouts cut
        from what is left of the command's deadline (``AwsClients.client``)."""
        super().__init__(f"kms:{key_id}", "KMS")
        self.key_id = key_id
        self._client_factory = client_factory

    def __repr__(self) -> str:
        return f"KmsRsaPrivateKey(key_id={self.key_id!r})"

    def _sign_rs256(self, data: bytes) -> bytes:
        if len(data) > MAX_RAW_MESSAGE_BYTES:
            raise KeySourceError(
                f"kms:{self.key_id}: a {len(data)}-byte message exceeds KMS's raw signing limit "
                f"of {MAX_RAW_MESSAGE_BYTES} bytes",
                hint="Shorten the subject or claims being signed",
            )
        try:
            response = self._client_factory().sign(
                KeyId=self.key_id,
                Message=data,
                MessageType="RAW",
                SigningAlgorithm=SIGNING_ALGORITHM,
            )
        except AWS_ERRORS as error:
            target = AwsTarget("kms:Sign", f"kms:{self.key_id}")
            # from None: botocore's parameter errors quote the request, here the assertion's
            # signing input.
            raise translate_aws_error(error, target) from None
        signature: bytes = response["Signature"]
        return signature

    def _fetch_public_key(self) -> rsa.RSAPublicKey:
        """``kms:GetPublicKey`` (a set-up permission); the base class checks type and size."""
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        try:
            response = self._client_factory().get_public_key(KeyId=self.key_id)
        except AWS_ERRORS as error:
            target = AwsTarget("kms:GetPublicKey", f"kms:{self.key_id}")
            raise translate_aws_error(error, target) from error
        public = load_der_public_key(response["PublicKey"])
        if not isinstance(public, rsa.RSAPublicKey):
            raise KeySourceError(f"kms:{self.key_id} is not an RSA key", hint=self.key_hint)
        return public
