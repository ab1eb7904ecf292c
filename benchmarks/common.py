"""What both measurement scripts need: a throwaway signing key on disk, removed afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def throwaway_key(directory: Path) -> tuple[Path, bytes]:
    """A new RSA-2048 key written to ``directory/key.pem`` (0600), and its public key PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / "key.pem"
    # 0600 from the start: no moment where another user could read the key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public


@contextlib.contextmanager
def throwaway_workspace(prefix: str) -> Iterator[tuple[Path, Path, bytes]]:
    """A private temporary directory (0700) with a throwaway key in it: ``(directory, key path,
    public key PEM)``. Removed with everything in it on the way out, Ctrl-C included."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        key_path, public = throwaway_key(work)
        yield work, key_path, public
    finally:
        shutil.rmtree(work, ignore_errors=True)
