"""``gcpkms:projects/.../cryptoKeyVersions/N``: a key that never leaves Google Cloud KMS.

Nothing is fetched when the key is "loaded": ``GcpKmsRsaPrivateKey.sign`` calls ``asymmetricSign``,
so at run time the caller needs ``cloudkms.cryptoKeyVersions.useToSign`` alone. The SDK (the
``gcp`` extra) is imported only here, when a ``gcpkms:`` key is used; without it the command ends
with exit 2 and the install line. The endpoint (``SF_CREDPROC_GCPKMS_ENDPOINT``) is checked now,
before any call; Application Default Credentials are looked up on the first call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config.gcpkms_uri import gcpkms_endpoint
from ..errors import InternalError
from .gcpkms_client import GcpKmsClient, require_sdk
from .gcpkms_key import GcpKmsRsaPrivateKey

if TYPE_CHECKING:
    from ..config.key_uri import KeyUri
    from .source import KeySourceContext


@dataclass(frozen=True)
class GcpKmsKeySource:
    """A Cloud KMS key version (``RSA_SIGN_PKCS1_{2048,3072,4096}_SHA256``) and the command's
    client."""

    version_name: str
    client: GcpKmsClient

    @classmethod
    def from_uri(cls, uri: KeyUri, context: KeySourceContext) -> GcpKmsKeySource:
        if context.deadline is None:
            raise InternalError(
                "a gcpkms: key source was opened without a deadline",
                hint="This is a bug; report it",
            )
        endpoint = gcpkms_endpoint(context.environ)
        require_sdk()
        # config.key_uri has checked the name against Cloud KMS's resource name grammar.
        return cls(uri.target, GcpKmsClient(endpoint, context.deadline))

    def load_key(self) -> GcpKmsRsaPrivateKey:
        return GcpKmsRsaPrivateKey(self.version_name, self.client)
