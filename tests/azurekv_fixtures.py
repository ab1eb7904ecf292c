"""The ``azurekv:`` tests' set-up (each test module makes its fixtures from these): the Key Vault
stand-in (``azurekv_standin.py``) signing with the connected app's key, and an environment in which
the real ``DefaultAzureCredential`` finds a workload identity whose token endpoint is the stand-in.
Real vault host names (``NAME.vault.azure.net``) reach the stand-in through the loopback CONNECT
proxy, so the SDK's challenge-resource verification runs as in production."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trustme
from azurekv_standin import KeyVaultStandIn, workload_identity_env
from connect_proxy import ConnectProxy
from cryptography.hazmat.primitives.asymmetric import rsa


@contextmanager
def running_vault(ca: trustme.CA, key: rsa.RSAPrivateKey) -> Iterator[KeyVaultStandIn]:
    """Key Vault and the token endpoint, with ``key`` as the vault's key."""
    standin = KeyVaultStandIn(ca, key)
    try:
        yield standin
    finally:
        standin.close()


@contextmanager
def azure_environment(
    env: dict[str, str], vault: KeyVaultStandIn, directory: Path
) -> Iterator[dict[str, str]]:
    """``env`` plus workload identity for the stand-in, and a CONNECT proxy for vault hosts."""
    proxy = ConnectProxy(vault.port).start()
    try:
        yield {
            **env,
            **workload_identity_env(vault, str(directory)),
            "HTTPS_PROXY": proxy.url,
            "NO_PROXY": "127.0.0.1,localhost",
        }
    finally:
        proxy.stop()
