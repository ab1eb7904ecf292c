"""The Azure SDK clients of one ``azurekv:`` key, cut to the command's deadline.

- **Credential**: ``DefaultAzureCredential`` (azure-identity), passed explicitly and wrapped in
  ``KeyVaultOnlyCredential``, which hands out tokens for Key Vault and Managed HSM scopes alone.
  The SDK asks for the scope the vault's 401 challenge names (Key Vault REST API, "Authentication":
  ``WWW-Authenticate: Bearer authorization=..., resource=https://vault.azure.net``) and, with
  ``verify_challenge_resource`` on, checks that the vault's host lies under that resource. It is
  turned off for a loopback stand-in alone (``config/azurekv_uri.py``); the wrapper still holds
  there, so no key URI can obtain a token for another Azure resource.
- **Deadline**: ``DeadlineTransport`` (azure-core's requests transport) cuts every attempt's connect
  and read timeouts to what is left of ``--timeout`` and refuses a retry wait (``Retry-After``)
  that would outlive it; the per-call retry settings (azure-core ``RetryPolicy``) keep to a few
  quick attempts and include POST (``sign`` is a POST: a throttled or timed-out sign is safe to
  repeat), and ``login.py`` retries a transient failure again inside the same deadline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.core.pipeline.transport import RequestsTransport
from azure.identity import DefaultAzureCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient

from ..config.azurekv_uri import MANAGED_HSM_SUFFIXES, VAULT_SUFFIXES
from ..deadline import MAX_CONNECT_SECONDS
from ..errors import KeySourceError, TransientError

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

    from ..clock import Clock
    from ..config.azurekv_uri import AzureKeyVaultUri
    from ..deadline import Deadline

#: The token scopes a Key Vault challenge may name: ``https://SUFFIX/.default`` of each cloud.
KEY_VAULT_SCOPES = frozenset(
    f"https://{suffix}{slash}/.default"
    for suffix in VAULT_SUFFIXES + MANAGED_HSM_SUFFIXES
    for slash in ("", "/")
)
#: Per call: a few quick SDK attempts (the deadline bounds them too), POST included.
RETRY_OPTIONS: dict[str, Any] = {
    "retry_total": 2,
    "retry_backoff_factor": 0.4,
    "retry_backoff_max": 2.0,
    "retry_on_methods": ["GET", "POST"],
}


class KeyVaultOnlyCredential:
    """A ``TokenCredential`` that asks ``inner`` for Key Vault or Managed HSM tokens only."""

    def __init__(self, inner: TokenCredential, key: str) -> None:
        self._inner = inner
        self._key = key

    def __repr__(self) -> str:
        return f"KeyVaultOnlyCredential({type(self._inner).__name__})"

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        **kwargs: Any,
    ) -> AccessToken:
        refused = [scope for scope in scopes if scope.lower() not in KEY_VAULT_SCOPES]
        if refused or not scopes:
            raise KeySourceError(
                f"{self._key}: the server asked for a token of another resource than Key Vault "
                "(its challenge names another scope), so none was sent",
                hint="Use the vault's own URL; a server that asks for another resource's token "
                "is not Azure Key Vault",
            )
        return self._inner.get_token(*scopes, claims=claims, tenant_id=tenant_id, **kwargs)

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class DeadlineTransport(RequestsTransport):  # type: ignore[misc]  # azure-core exports it lazily
    """azure-core's requests transport with every wait cut to the command's deadline."""

    def __init__(self, deadline: Deadline | None, clock: Clock | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._deadline = deadline
        self._clock = clock

    def send(self, request: Any, **kwargs: Any) -> Any:
        if self._deadline is not None:
            left = self._deadline.check("calling Azure Key Vault")
            connect = kwargs.get("connection_timeout") or MAX_CONNECT_SECONDS
            read = kwargs.get("read_timeout") or left
            kwargs["connection_timeout"] = min(connect, MAX_CONNECT_SECONDS, left)
            kwargs["read_timeout"] = min(read, left)
        return super().send(request, **kwargs)

    def sleep(self, duration: float) -> None:
        """A retry's wait (azure-core honours ``Retry-After``): never past the deadline."""
        if self._deadline is not None and duration >= self._deadline.remaining():
            raise TransientError(
                f"Azure asked to retry after {duration:g} s, after the "
                f"{self._deadline.timeout_seconds:g} s deadline",
                hint="Retry later, or raise --timeout",
                retryable=False,
            )
        if self._clock is not None:
            self._clock.sleep(duration)
        else:
            super().sleep(duration)


class AzureKeyClients:
    """The ``CryptographyClient`` (sign) and ``KeyClient`` (the public key) of one key."""

    def __init__(
        self,
        key: AzureKeyVaultUri,
        credential: TokenCredential | None,
        *,
        deadline: Deadline | None,
        clock: Clock | None,
        name: str,
    ) -> None:
        """``credential``: ``None`` for ``DefaultAzureCredential`` (the production path); the
        Python API may pass any ``TokenCredential``. Either way it is wrapped to hand out Key
        Vault tokens only."""
        transport = DeadlineTransport(deadline, clock)
        inner = credential or DefaultAzureCredential(transport=transport, retry_total=1)
        self.credential = KeyVaultOnlyCredential(inner, name)
        options: dict[str, Any] = {
            "transport": transport,
            # The SDK verifies that the vault's host is under the challenge's resource; a
            # loopback stand-in is not, so only there is it off (its host was checked).
            "verify_challenge_resource": not key.loopback,
        }
        self.crypto = CryptographyClient(key.key_id, self.credential, **options)
        self.keys = KeyClient(key.vault_url, self.credential, **options)

    def close(self) -> None:
        self.crypto.close()
        self.keys.close()
        self.credential.close()
