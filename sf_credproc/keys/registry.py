"""Key sources by URI scheme: the adapter for ``--key`` is chosen here, once per command.

The built-in schemes are the ones ``config.key_uri`` parses; any other scheme is a signer plugin
(``plugin_source.py``), so built-in schemes always win. A new backend is one module with a
``from_uri(uri, context)`` factory and one line here: no other adapter changes, and no caller tests
the scheme. Every adapter is imported only when its scheme is used: the AWS ones load botocore,
Vault's and PKCS#11's their clients (python-pkcs11 is an optional extra), and a cold start pays for
its own adapter alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ..errors import InternalError

if TYPE_CHECKING:
    from ..config.key_uri import KeyUri
    from .source import KeySource, KeySourceContext, KeySourceFactory


def _kms(uri: KeyUri, context: KeySourceContext) -> KeySource:
    from .kms_source import KmsKeySource

    return KmsKeySource.from_uri(uri, context)


def _secrets_manager(uri: KeyUri, context: KeySourceContext) -> KeySource:
    from .secrets_manager_source import SecretsManagerKeySource

    return SecretsManagerKeySource.from_uri(uri, context)


def _ssm(uri: KeyUri, context: KeySourceContext) -> KeySource:
    from .ssm_source import SsmParameterKeySource

    return SsmParameterKeySource.from_uri(uri, context)


def _transit(uri: KeyUri, context: KeySourceContext) -> KeySource:
    from .transit_source import TransitKeySource

    return TransitKeySource.from_uri(uri, context)


def _vault_kv(uri: KeyUri, context: KeySourceContext) -> KeySource:
    from .vault_kv_source import VaultKvKeySource

    return VaultKvKeySource.from_uri(uri, context)


def _pkcs11(uri: KeyUri, context: KeySourceContext) -> KeySource:
    from .pkcs11_source import Pkcs11KeySource

    return Pkcs11KeySource.from_uri(uri, context)


def _gcpkms(uri: KeyUri, context: KeySourceContext) -> KeySource:
    from .gcpkms_source import GcpKmsKeySource

    return GcpKmsKeySource.from_uri(uri, context)


def _azurekv(uri: KeyUri, context: KeySourceContext) -> KeySource:
    from .azurekv_source import AzureKeyVaultKeySource  # the Azure SDK: an optional extra

    return AzureKeyVaultKeySource.from_uri(uri, context)


def _file(uri: KeyUri, context: KeySourceContext) -> KeySource:
    from .file_source import FileKeySource

    return FileKeySource.from_uri(uri, context)


def _env(uri: KeyUri, context: KeySourceContext) -> KeySource:
    from .env_source import EnvironmentKeySource

    return EnvironmentKeySource.from_uri(uri, context)


def _plugin(uri: KeyUri, context: KeySourceContext) -> KeySource:
    from .plugin_source import PluginKeySource

    return PluginKeySource.from_uri(uri, context)


#: The adapters that ship with sf-credproc, by the scheme ``config.key_uri`` parses.
BUILTIN_KEY_SOURCES: Mapping[str, KeySourceFactory] = {
    "kms": _kms,
    "secretsmanager": _secrets_manager,
    "ssm": _ssm,
    "transit": _transit,
    "vault": _vault_kv,
    "pkcs11": _pkcs11,
    "gcpkms": _gcpkms,
    "azurekv": _azurekv,
    "file": _file,
    "env": _env,
}


class KeySourceRegistry:
    """Factories of ``KeySource`` adapters, one per URI scheme."""

    def __init__(
        self,
        factories: Mapping[str, KeySourceFactory] = BUILTIN_KEY_SOURCES,
        plugins: KeySourceFactory = _plugin,
    ) -> None:
        self._factories = dict(factories)
        self._plugins = plugins

    @property
    def schemes(self) -> Iterable[str]:
        """The schemes an adapter is registered for."""
        return tuple(self._factories)

    def register(self, scheme: str, factory: KeySourceFactory) -> None:
        """Add the adapter for ``scheme``; a scheme has one adapter, so a second is refused."""
        if scheme in self._factories:
            raise ValueError(f"a key source is already registered for {scheme}:")
        self._factories[scheme] = factory

    def source_for(self, uri: KeyUri, context: KeySourceContext) -> KeySource:
        """The adapter for ``uri``, built once; its ``load_key()`` reads the key."""
        factory = self._factories.get(uri.scheme)
        if factory is None and uri.is_plugin:
            return self._plugins(uri, context)
        if factory is None:
            # The URI parser accepted a scheme that no adapter serves: only a bug gets here.
            raise InternalError(
                f"no key source is registered for {uri.scheme}: keys",
                hint="This is a bug; report it",
            )
        return factory(uri, context)
