"""``kms:<key id | alias/NAME | ARN>``: a key that never leaves AWS KMS; KMS signs.

Nothing is fetched when the key is "loaded": ``KmsRsaPrivateKey.sign`` calls KMS ``Sign``, so at
run time the caller needs ``kms:Sign`` only (no ``DescribeKey``, no ``GetPublicKey``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .kms_key import KmsRsaPrivateKey

if TYPE_CHECKING:
    from ..config.key_uri import KeyUri
    from .kms_key import KmsClient
    from .source import AwsClientFactory, KeySourceContext


class KmsKeySource:
    """A KMS asymmetric key (``KeySpec`` RSA_2048/3072/4096, ``KeyUsage`` SIGN_VERIFY).

    A plain class, as the ``pkcs11:`` and ``azurekv:`` adapters are: a dataclass would cost every
    cold start with a ``kms:`` key about half a millisecond (README, "Cold start, measured")."""

    def __init__(self, uri: KeyUri, aws: AwsClientFactory) -> None:
        self.uri = uri
        self.aws = aws

    def __repr__(self) -> str:
        return f"KmsKeySource({str(self.uri)!r})"

    @classmethod
    def from_uri(cls, uri: KeyUri, context: KeySourceContext) -> KmsKeySource:
        return cls(uri, context.aws)

    def load_key(self) -> KmsRsaPrivateKey:
        return KmsRsaPrivateKey(self.uri.target, client_factory=self._client)

    def _client(self) -> KmsClient:
        # A client per call: each KMS call gets timeouts cut from what is left of the deadline.
        client: KmsClient = self.aws.client("kms", region=self.uri.region)
        return client
