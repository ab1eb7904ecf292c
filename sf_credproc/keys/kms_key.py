"""An RSA private key that lives in AWS KMS: ``sign()`` calls KMS ``Sign``; the key never leaves.

It implements cryptography's ``RSAPrivateKey`` interface, so PyJWT (assertions) and cryptography's
``CertificateBuilder`` (certificates) use it exactly like a local key: one signing path for every
key source. At run time it needs only ``kms:Sign`` with ``RSASSA_PKCS1_V1_5_SHA_256`` and
``MessageType=RAW`` (KMS Sign API reference: RAW messages up to 4096 bytes are hashed by KMS).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..aws import AWS_ERRORS, AwsTarget, translate_aws_error
from ..errors import InternalError, KeySourceError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import serialization

SIGNING_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"
#: KMS's limit for MessageType=RAW; a JWT signing input is a few hundred bytes.
MAX_RAW_MESSAGE_BYTES = 4096
#: KMS's smallest RSA key spec (RSA_2048): what key_size reports before KMS has told us more.
KMS_MIN_RSA_BITS = 2048


class KmsClient(Protocol):
    """The two KMS calls the key makes (a boto3 ``kms`` client has them)."""

    def sign(
        self, *, KeyId: str, Message: bytes, MessageType: str, SigningAlgorithm: str
    ) -> Mapping[str, Any]: ...

    def get_public_key(self, *, KeyId: str) -> Mapping[str, Any]: ...


class KmsRsaPrivateKey(rsa.RSAPrivateKey):
    """An ``RSAPrivateKey`` whose private half stays in KMS.

    The ``key_size`` contract: a lower bound until KMS has said more, exact after. Before the
    first signature (or ``public_key()``) it is KMS's smallest RSA size, 2048, so that the runtime
    path needs no ``kms:DescribeKey`` or ``kms:GetPublicKey``; every KMS RSA key spec meets RS256's
    2048-bit minimum, so no check that reads it before then can wrongly refuse a key.
    """

    def __init__(self, key_id: str, client_factory: Callable[[], KmsClient]) -> None:
        """``client_factory`` makes a KMS client per call, so that each call gets timeouts cut
        from what is left of the command's deadline (``AwsClients.client``)."""
        self.key_id = key_id
        self._client_factory = client_factory
        self._key_size: int | None = None
        self._public_key: rsa.RSAPublicKey | None = None

    def __repr__(self) -> str:
        return f"KmsRsaPrivateKey(key_id={self.key_id!r})"

    @property
    def key_size(self) -> int:
        return self._key_size or KMS_MIN_RSA_BITS

    def sign(
        self,
        data: bytes,
        signature_padding: padding.AsymmetricPadding,
        # Any: the accepted types grew across cryptography releases (NoDigestInfo in 45+).
        algorithm: Any,
    ) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 section 8.2), computed by KMS.

        PyJWT and cryptography's builders pass the padding and algorithm positionally.
        """
        if not isinstance(signature_padding, padding.PKCS1v15) or not isinstance(
            algorithm, hashes.SHA256
        ):
            # sf-credproc signs RS256 only (assertions, certificates): anything else is our bug.
            raise InternalError(
                f"kms:{self.key_id} can only sign with PKCS#1 v1.5 and SHA-256 (RS256)",
                hint="This is a bug in the caller; report it",
            )
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
        self._key_size = len(signature) * 8
        return signature

    def public_key(self) -> rsa.RSAPublicKey:
        """The public half, fetched once with ``kms:GetPublicKey`` (a setup-time permission)."""
        if self._public_key is None:
            from cryptography.hazmat.primitives.serialization import load_der_public_key

            try:
                response = self._client_factory().get_public_key(KeyId=self.key_id)
            except AWS_ERRORS as error:
                target = AwsTarget("kms:GetPublicKey", f"kms:{self.key_id}")
                raise translate_aws_error(error, target) from error
            public = load_der_public_key(response["PublicKey"])
            if not isinstance(public, rsa.RSAPublicKey):
                raise KeySourceError(
                    f"kms:{self.key_id} is not an RSA key",
                    hint="Use a KMS key with KeySpec RSA_2048, RSA_3072 or RSA_4096",
                )
            self._public_key = public
            self._key_size = public.key_size
        return self._public_key

    def decrypt(self, ciphertext: bytes, encryption_padding: padding.AsymmetricPadding) -> bytes:
        self._never_leaves("decrypt with")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        self._never_leaves("export")

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        key_format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        self._never_leaves("export")

    def __copy__(self) -> KmsRsaPrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> KmsRsaPrivateKey:
        return self

    def _never_leaves(self, what: str) -> NoReturn:
        raise KeySourceError(
            f"cannot {what} kms:{self.key_id}: the private key never leaves KMS",
            hint="Only signing is possible with a KMS key",
        )
