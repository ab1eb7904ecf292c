"""``transit:[MOUNT/]KEY[#VERSION]``: a key that never leaves Vault (or OpenBao) Transit.

Everything before the last ``/`` is the mount (default ``transit``). Nothing is fetched when the
key is "loaded": ``TransitRsaPrivateKey.sign`` calls Transit's sign endpoint, so at run time the
token needs ``update`` on ``MOUNT/sign/KEY/sha2-256`` alone. Without ``#VERSION`` Transit signs
with the key's latest version, so after a rotation the connected app's certificate no longer
matches until it is replaced; ``#VERSION`` pins one (``doctor`` compares them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .transit_key import TransitRsaPrivateKey
from .vault_client import VaultClient

if TYPE_CHECKING:
    from ..config.key_uri import KeyUri
    from .source import KeySourceContext


@dataclass(frozen=True)
class TransitKeySource:
    """A Transit key (type ``rsa-2048``, ``rsa-3072`` or ``rsa-4096``) and the command's client."""

    mount: str
    name: str
    version: int | None
    client: VaultClient

    @classmethod
    def from_uri(cls, uri: KeyUri, context: KeySourceContext) -> TransitKeySource:
        # config.key_uri has checked the segments and put the default mount in front.
        mount, _, name = uri.target.rpartition("/")
        version = int(uri.field) if uri.field else None
        return cls(mount, name, version, VaultClient.from_context(context))

    def load_key(self) -> TransitRsaPrivateKey:
        return TransitRsaPrivateKey(self.mount, self.name, self.version, self.client)
