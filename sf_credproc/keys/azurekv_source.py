"""``azurekv:https://VAULT.vault.azure.net/keys/KEY[/VERSION]``: a key that never leaves Azure Key
Vault or Managed HSM; Key Vault signs.

The Azure SDK (azure-keyvault-keys, azure-identity) is the optional extra ``sf-credproc[azure]``,
imported only here, when an ``azurekv:`` key is used: without it the command is exit 2 with the
``pip install`` line. Credentials come from ``DefaultAzureCredential`` (managed identity, workload
identity, a service principal in the environment, or ``az login``), or from the ``TokenCredential``
a Python caller passes in. Nothing is fetched when the key is "loaded": ``sign`` is
the first call, so at run time the identity needs the ``sign`` permission alone
(``iam/azure/keyvault-signer-role.json``).
Without ``/VERSION`` Key Vault signs with the key's current version, so after a rotation the
connected app's certificate no longer matches until it is replaced; a version pins one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config.azurekv_uri import parse_azure_key_id
from ..errors import ConfigError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from ..config.key_uri import KeyUri
    from .azurekv_client import AzureKeyClients
    from .azurekv_key import AzureKeyVaultRsaPrivateKey
    from .source import KeySourceContext

MISSING_EXTRA_HINT = "pip install 'sf-credproc[azure]'"


class AzureKeyVaultKeySource:
    """An RSA key (``RSA`` or ``RSA-HSM``, 2048 bits or more) in Key Vault or Managed HSM."""

    def __init__(
        self,
        uri: KeyUri,
        context: KeySourceContext,
        *,
        credential: TokenCredential | None = None,
    ) -> None:
        """``credential``: ``None`` for ``DefaultAzureCredential``; any ``TokenCredential`` (a
        Python caller's, or a test's) otherwise."""
        self.uri = uri
        self.name = f"{uri.scheme}:{uri.target}"
        self.key = parse_azure_key_id(uri.target)  # config.key_uri has checked it already
        self._context = context
        self._credential = credential
        self._clients: AzureKeyClients | None = None
        _import_sdk()

    @classmethod
    def from_uri(
        cls, uri: KeyUri, context: KeySourceContext, *, credential: TokenCredential | None = None
    ) -> AzureKeyVaultKeySource:
        return cls(uri, context, credential=credential)

    def __repr__(self) -> str:
        return f"AzureKeyVaultKeySource({self.name!r})"

    def load_key(self) -> AzureKeyVaultRsaPrivateKey:
        from .azurekv_client import AzureKeyClients
        from .azurekv_key import AzureKeyVaultRsaPrivateKey

        if self._clients is None:
            self._clients = AzureKeyClients(
                self.key,
                self._credential,
                deadline=self._context.deadline,
                clock=self._context.clock,
                name=self.name,
            )
            self._context.cleanup.callback(self._clients.close)
        return AzureKeyVaultRsaPrivateKey(self.key, self._clients, self.name)


def _import_sdk() -> None:
    """The Azure SDK, or exit 2 saying how to install it (it is an optional extra)."""
    try:
        import azure.identity
        import azure.keyvault.keys.crypto  # noqa: F401
    except ImportError:
        raise ConfigError(
            "azurekv: keys need the Azure SDK (azure-keyvault-keys, azure-identity)",
            hint=MISSING_EXTRA_HINT,
        ) from None
