"""``load_signing_key``: the key a ``KeyUri`` names, in one call (choose the source, then load).

Callers that hold the key source for a whole command (``KeySourceRegistry().source_for`` once,
``load_key`` per attempt) do not need this; it serves those that load a key once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .registry import KeySourceRegistry
from .source import AwsClientFactory, KeySourceContext

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    from ..config.key_uri import KeyUri


def load_signing_key(
    uri: KeyUri,
    *,
    aws: AwsClientFactory,
    environ: Mapping[str, str],
    passphrase: str | None,
) -> RSAPrivateKey:
    """Return the RSA private key ``uri`` names; ``passphrase`` unlocks ``file:``/``env:`` PEMs."""
    context = KeySourceContext(aws=aws, environ=environ, passphrase=passphrase)
    return KeySourceRegistry().source_for(uri, context).load_key()
