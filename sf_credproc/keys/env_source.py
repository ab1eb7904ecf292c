"""``env:<VAR>``: a PEM private key in an environment variable, as CI secret stores provide it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import KeySourceError
from .pem import load_rsa_private_key

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    from ..config.key_uri import KeyUri
    from .source import KeySourceContext


@dataclass(frozen=True)
class EnvironmentKeySource:
    """The variable ``uri.target`` of ``environ``, unlocked by ``SF_CREDPROC_KEY_PASSPHRASE``."""

    uri: KeyUri
    environ: Mapping[str, str] = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)

    @classmethod
    def from_uri(cls, uri: KeyUri, context: KeySourceContext) -> EnvironmentKeySource:
        return cls(uri, context.environ, context.passphrase)

    def load_key(self) -> RSAPrivateKey:
        where = str(self.uri)
        value = self.environ.get(self.uri.target)
        if not value:
            raise KeySourceError(
                f"{where}: the environment variable is not set or empty",
                hint=f"Export {self.uri.shown_target} with the PEM private key",
            )
        if "\n" not in value and "\\n" in value:
            # CI secret stores often hold a PEM on one line with literal "\n" escapes.
            value = value.replace("\\n", "\n")
        unlock = self.passphrase.encode("utf-8") if self.passphrase else None
        return load_rsa_private_key(
            value.encode("utf-8", "surrogateescape"), where=where, passphrase=unlock
        )
