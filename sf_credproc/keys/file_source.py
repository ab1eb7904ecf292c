"""``file:<path>``: a PEM or DER private key in a file (``~`` expands).

The path is the user's own, but what sits there is not trusted: a FIFO or a device named by
mistake fails at once instead of blocking or filling memory (``local_files.read_regular_file``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import KeySourceError
from ..local_files import FileTooLargeError, NotRegularFileError, read_regular_file
from .pem import MAX_KEY_MATERIAL_BYTES, load_rsa_private_key

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    from ..config.key_uri import KeyUri
    from .source import KeySourceContext


class FileKeySource:
    """A key file, unlocked by ``SF_CREDPROC_KEY_PASSPHRASE`` when it is encrypted.

    A plain class, as the ``pkcs11:`` and ``azurekv:`` adapters are: its ``repr`` names the file
    only, never the passphrase, and every cold start with a ``file:`` key is spared the half
    millisecond a dataclass costs (README, "Cold start, measured")."""

    def __init__(self, uri: KeyUri, passphrase: str | None = None) -> None:
        self.uri = uri
        self.passphrase = passphrase

    def __repr__(self) -> str:
        return f"FileKeySource({str(self.uri)!r})"

    @classmethod
    def from_uri(cls, uri: KeyUri, context: KeySourceContext) -> FileKeySource:
        return cls(uri, context.passphrase)

    def load_key(self) -> RSAPrivateKey:
        where = str(self.uri)
        material = read_key_file(self.uri.target, where)
        unlock = self.passphrase.encode("utf-8") if self.passphrase else None
        return load_rsa_private_key(material, where=where, passphrase=unlock)


def read_key_file(path: str, where: str) -> bytes:
    """The bytes of the key file at ``path``, or a ``KeySourceError`` naming ``where``.

    The causes are chained: an ``OSError`` names the path and the reason, never the contents.
    """
    try:
        return read_regular_file(os.path.expanduser(path), MAX_KEY_MATERIAL_BYTES)
    except FileNotFoundError as error:
        raise KeySourceError(f"{where}: no such file", hint="Check the path after file:") from error
    except NotRegularFileError as error:
        raise KeySourceError(
            f"{where} is {error.kind}, not a key file", hint="Name the key file itself"
        ) from error
    except FileTooLargeError as error:
        raise KeySourceError(
            f"{where} holds {error.size} bytes, far too many for a key",
            hint="Name the PEM or DER private key file itself",
        ) from error
    except PermissionError as error:
        raise KeySourceError(
            f"{where}: permission denied", hint="Make the key file readable by this user"
        ) from error
    except OSError as error:
        raise KeySourceError(
            f"{where} cannot be read ({error.strerror})", hint="Check the path after file:"
        ) from error
