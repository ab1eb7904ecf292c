"""``kms:<key id | alias/NAME | ARN>``: a key that never leaves AWS KMS; KMS signs.

Nothing is fetched when the key is "loaded": ``KmsRsaPrivateKey.sign`` calls KMS ``Sign``, so at
run time the caller needs ``kms:Sign`` only (no ``DescribeKey``, no ``GetPublicKey``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .kms_key import KmsRsaPrivateKey

if TYPE_CHECKING:
    from ..config.key_uri import KeyUri
    from .kms_key import KmsClient
    from .source import AwsClientFactory, KeySourceContext


@dataclass(frozen=True)
class KmsKeySource:
    """A KMS asymmetric key (``KeySpec`` RSA_2048/3072/4096, ``KeyUsage`` SIGN_VERIFY)."""

    uri: KeyUri
    aws: AwsClientFactory

    @classmethod
    def from_uri(cls, uri: KeyUri, context: KeySourceContext) -> KmsKeySource:
        return cls(uri, context.aws)

    def load_key(self) -> KmsRsaPrivateKey:
        return KmsRsaPrivateKey(self.uri.target, client_factory=self._client)

    def _client(self) -> KmsClient:
        # A client per call: each KMS call gets timeouts cut from what is left of the deadline.
        client: KmsClient = self.aws.client("kms", region=self.uri.region)
        return client
