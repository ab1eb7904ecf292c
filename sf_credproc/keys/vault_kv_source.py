"""``vault:MOUNT/PATH[#FIELD]``: a PEM private key in Vault (or OpenBao) KV version 2.

The first path segment is the mount; the secret is read with ``GET /v1/MOUNT/data/PATH`` (Vault
API, "KV secrets engine - version 2", read secret version: the current one). Its field ``FIELD``
(default ``private_key``) holds the PEM, and an optional ``passphrase`` field unlocks an
encrypted one, as with ``secretsmanager:`` JSON secrets. The token needs ``read`` on
``MOUNT/data/PATH``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config.key_uri import DEFAULT_SECRET_FIELD
from ..errors import CredProcError, KeySourceError
from .pem import PassphraseHints, load_rsa_private_key, pem_and_passphrase
from .vault_client import VaultClient
from .vault_errors import VaultCall

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    from ..config.key_uri import KeyUri
    from .source import KeySourceContext


#: ``SF_CREDPROC_KEY_PASSPHRASE`` unlocks ``file:`` and ``env:`` keys only; a secret carries its own.
KV_PASSPHRASE = PassphraseHints(
    missing=(
        "SF_CREDPROC_KEY_PASSPHRASE does not apply to vault: keys. Store the passphrase in the "
        "secret's 'passphrase' field (vault kv put MOUNT/PATH private_key=@key.pem "
        "passphrase=...), or store the PEM unencrypted"
    ),
    wrong="Check the 'passphrase' field of the Vault secret",
)


@dataclass(frozen=True)
class VaultKvKeySource:
    """The key (and its passphrase, if any) in the current version of one KV v2 secret."""

    uri: KeyUri
    mount: str
    path: str
    client: VaultClient

    @classmethod
    def from_uri(cls, uri: KeyUri, context: KeySourceContext) -> VaultKvKeySource:
        # config.key_uri has checked the segments: at least a mount and a name.
        mount, _, path = uri.target.partition("/")
        return cls(uri, mount, path, VaultClient.from_context(context))

    def load_key(self) -> RSAPrivateKey:
        material, passphrase = self._read_secret()
        return load_rsa_private_key(
            material, where=str(self.uri), passphrase=passphrase, passphrase_hints=KV_PASSPHRASE
        )

    def _read_secret(self) -> tuple[bytes, bytes | None]:
        where = str(self.uri)
        call = VaultCall(
            "GET", f"{self.mount}/data/{self.path}", "read", f"KV secret {self.mount}/{self.path}"
        )
        data = self.client.call(call, explain=self._explain)
        fields, metadata = data.get("data"), data.get("metadata")
        if not isinstance(metadata, dict) or not isinstance(fields, dict):
            # KV v1 answers a read of MOUNT/data/PATH with the fields themselves, when a secret
            # happens to live at that path.
            raise KeySourceError(
                f"{where}: {self.mount} is not a KV version 2 mount",
                hint=_upgrade_hint(self.mount),
            )
        field = self.uri.field or DEFAULT_SECRET_FIELD
        store = (
            f"Store the PEM in the field: vault kv put {self.mount}/{self.path} {field}=@key.pem"
        )
        return pem_and_passphrase(fields, field, where=where, what="the secret", store_hint=store)

    def _explain(self, status: int, said: str, document: Any) -> CredProcError | None:
        if status != 404:
            return None
        where = str(self.uri)
        data = document.get("data") if isinstance(document, dict) else None
        metadata = data.get("metadata") if isinstance(data, dict) else None
        if isinstance(metadata, dict):
            # KV v2 answers 404 with the metadata of a deleted or destroyed current version.
            state = "destroyed" if metadata.get("destroyed") is True else "deleted"
            return KeySourceError(
                f"{where}: the secret's current version is {state}",
                hint=f"Write the key again (vault kv put {self.mount}/{self.path} "
                "private_key=@key.pem), or undelete the version (vault kv undelete)",
            )
        if self._is_kv_v1():
            return KeySourceError(
                f"{where}: {self.mount} is a KV version 1 mount", hint=_upgrade_hint(self.mount)
            )
        return KeySourceError(
            f"{where}: no such secret (GET /v1/{self.mount}/data/{self.path} answered HTTP 404)",
            hint=f"Check the mount ({self.mount}) and path ({self.path}), and VAULT_NAMESPACE; "
            f"write it with vault kv put {self.mount}/{self.path} private_key=@key.pem",
        )

    def _is_kv_v1(self) -> bool:
        """Best effort: Vault's mount lookup (``sys/internal/ui/mounts/:path``, which the ``vault
        kv`` commands use too) says the mount is KV version 1. False when it cannot tell."""
        call = VaultCall("GET", f"sys/internal/ui/mounts/{self.mount}", "read", "mount")
        try:
            data = self.client.call(call)
        except CredProcError:
            return False
        options = data.get("options")
        version = options.get("version") if isinstance(options, dict) else None
        return data.get("type") == "kv" and version in (None, "1")


def _upgrade_hint(mount: str) -> str:
    return (
        f"Use a KV version 2 mount (vault secrets enable -version=2 kv), or upgrade this one "
        f"(vault kv enable-versioning {mount})"
    )
