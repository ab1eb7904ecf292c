"""What both measurement scripts need: a throwaway signing key on disk."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def throwaway_key(directory: Path) -> tuple[Path, bytes]:
    """A new RSA-2048 key written to ``directory/key.pem`` (0600), and its public key PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / "key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public
