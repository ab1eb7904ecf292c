"""An RSA private key in Azure Key Vault or Managed HSM: Key Vault signs; the key never leaves it.

Key Vault REST API: ``POST {vault}/keys/{name}/{version}/sign`` with ``{"alg": "RS256", "value":
base64url(SHA-256(data))}`` answers ``{"kid", "value": base64url(signature)}``
(https://learn.microsoft.com/rest/api/keyvault/keys/sign/sign); ``GET {vault}/keys/{name}/{version}``
answers the key as a JWK (https://learn.microsoft.com/rest/api/keyvault/keys/get-key/get-key),
``kty`` ``RSA`` or ``RSA-HSM`` with ``n`` and ``e``. The SDK's ``CryptographyClient.sign`` and
``KeyClient.get_key`` make these calls.

Why not the SDK's own ``KeyVaultRSAPrivateKey`` (``create_rsa_private_key()``): its ``key_size``
needs the key read first (PyJWT reads it), so ``get`` would need the ``read`` permission besides
``sign``; its ``sign`` takes no per-call retry or deadline settings; and ``doctor`` and the 2048-bit
and RS256-only checks come with ``remote_key.RemoteRsaPrivateKey``, shared by every remote signer.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import CredProcError, KeySourceError
from ..oauth.oauth_errors import untrusted_line
from .azurekv_client import RETRY_OPTIONS
from .azurekv_errors import AzureCall, translate_azure_error
from .remote_key import RemoteRsaPrivateKey

if TYPE_CHECKING:
    from ..config.azurekv_uri import AzureKeyVaultUri
    from .azurekv_client import AzureKeyClients

#: JWK key types that sign RS256 (``RSA-HSM``: an HSM-protected key of a Premium vault or an HSM).
RSA_KEY_TYPES = frozenset({"RSA", "RSA-HSM"})


def call_of(key: AzureKeyVaultUri, name: str, operation: str) -> AzureCall:
    """``operation`` (``sign`` or ``get key``) on ``key`` with the permission it needs: Azure
    RBAC data actions for Key Vault ("Azure permissions for Key Vault"), Managed HSM's local RBAC
    ("Managed HSM local RBAC built-in roles"), or the access-policy key permission."""
    sign = operation == "sign"
    if key.kind == "vault":
        action = "Microsoft.KeyVault/vaults/keys/" + ("sign/action" if sign else "read")
        role = "Azure RBAC: " + (
            "iam/azure/keyvault-signer-role.json or Key Vault Crypto User"
            if sign
            else "iam/azure/keyvault-cert-role.json or Key Vault Crypto User"
        )
    else:
        action = "Microsoft.KeyVault/managedHsm/keys/" + ("sign/action" if sign else "read/action")
        role = "Managed HSM local RBAC: Managed HSM Crypto User at /keys/KEY"
    return AzureCall(operation, name, action, "sign" if sign else "get", role)


class AzureKeyVaultRsaPrivateKey(RemoteRsaPrivateKey):
    """An ``RSAPrivateKey`` whose private half stays in Key Vault (or Managed HSM)."""

    key_hint = (
        "Use a Key Vault RSA key of 2048, 3072 or 4096 bits with the sign operation "
        "(az keyvault key create --kty RSA --size 2048 --ops sign verify)"
    )

    def __init__(self, key: AzureKeyVaultUri, clients: AzureKeyClients, name: str) -> None:
        signer = "Azure Key Vault" if key.kind == "vault" else "Azure Managed HSM"
        super().__init__(name, signer)
        self.key = key
        self._clients = clients
        #: The version Key Vault named when the key was read (the latest, when none is pinned).
        self._read_version: str | None = None

    def __repr__(self) -> str:
        return f"AzureKeyVaultRsaPrivateKey({self.name!r})"

    def _call(self, operation: str) -> AzureCall:
        return call_of(self.key, self.name, operation)

    def _sign_rs256(self, data: bytes) -> bytes:
        from azure.keyvault.keys.crypto import SignatureAlgorithm

        digest = hashlib.sha256(data).digest()
        try:
            result = self._clients.crypto.sign(SignatureAlgorithm.rs256, digest, **RETRY_OPTIONS)
        except CredProcError:
            raise  # the deadline, or a token for another resource refused: already ours
        except Exception as error:  # noqa: BLE001 - every SDK error is translated (or re-raised)
            # from None: nothing of the request (the digest of the assertion) in a traceback.
            raise translate_azure_error(error, self._call("sign")) from None
        signature = result.signature
        if not isinstance(signature, bytes) or not signature:
            raise KeySourceError(f"{self.name}: Key Vault's answer holds no signature")
        return signature

    def _fetch_public_key(self) -> rsa.RSAPublicKey:
        """``GET keys/{name}/{version}`` (a set-up permission: ``cert``, ``doctor``)."""
        try:
            found = self._clients.keys.get_key(self.key.name, self.key.version, **RETRY_OPTIONS)
        except CredProcError:
            raise  # the deadline, or a token for another resource refused: already ours
        except Exception as error:  # noqa: BLE001 - every SDK error is translated (or re-raised)
            raise translate_azure_error(error, self._call("get key")) from None
        version = getattr(found.properties, "version", None)
        self._read_version = untrusted_line(version, limit=40) if isinstance(version, str) else None
        # JsonWebKey sets its fields from the JWK's members (RFC 7517): kty, n, e as bytes.
        kty, n, e = (getattr(found.key, name, None) for name in ("kty", "n", "e"))
        # A JsonWebKeyType (a str enum) for the types the SDK knows, else the string.
        key_type = str(getattr(kty, "value", kty) or "")
        if key_type not in RSA_KEY_TYPES:
            raise KeySourceError(
                f"{self.name} has key type {key_type[:20] or '(none)'}, not RSA",
                hint=self.key_hint,
            )
        if not isinstance(n, bytes) or not isinstance(e, bytes) or not n or not e:
            raise KeySourceError(f"{self.name}: Key Vault's JWK has no n or e", hint=self.key_hint)
        numbers = rsa.RSAPublicNumbers(int.from_bytes(e, "big"), int.from_bytes(n, "big"))
        try:
            return numbers.public_key()
        except ValueError:
            raise KeySourceError(
                f"{self.name}: Key Vault's JWK is not a valid RSA public key", hint=self.key_hint
            ) from None

    def describe(self) -> str:
        if self.key.version:
            version = f"version {self.key.version}"
        elif self._read_version:
            version = f"the latest version, now {self._read_version}"
        else:
            version = "the latest version"
        return f"in {self.signer} at {self.key.vault_url} (key {self.key.name}, {version})"
