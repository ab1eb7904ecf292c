"""Azure SDK errors translated to sf-credproc's exit codes, each with the fix.

Key Vault REST API, "Azure Key Vault REST API error codes"
(https://learn.microsoft.com/azure/key-vault/general/rest-error-codes): 401 (no or a refused
token), 403 (``Forbidden``, ``ForbiddenByRbac``, ``ForbiddenByPolicy``, ``ForbiddenByFirewall``:
the identity lacks the permission, or the network is not allowed), 404 (no such key or version),
429 (throttled), 5xx. azure-core raises them as ``ClientAuthenticationError`` (401),
``ResourceNotFoundError`` (404) and ``HttpResponseError`` (every other status, ``status_code`` and
``error.code`` set); credential failures as ``ClientAuthenticationError`` without a status
(``CredentialUnavailableError`` when no credential is configured); timeouts, refused connections and
TLS failures as ``ServiceRequestError``/``ServiceResponseError``. A challenge for another resource
is the SDK's ``ValueError`` (``_validate_challenge_resource``).

Permission, identity and "no such key" are exit 3; throttling, 5xx and the network are exit 5.
Messages name the key and what Azure said (its error code, one sanitised line), never a token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import CredentialUnavailableError

from ..errors import CredProcError, KeySourceError, TransientError
from ..oauth.oauth_errors import untrusted_line

#: The statuses that may clear by themselves (Key Vault's throttling guidance: back off on 429).
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CREDENTIAL_HINT = (
    "Give DefaultAzureCredential an identity: a managed identity, workload identity "
    "(AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE), a service principal "
    "(AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET) or az login"
)


@dataclass(frozen=True)
class AzureCall:
    """One call for messages: the Key Vault operation, the key, and the permission it needs."""

    operation: str  # "sign", "get key"
    key: str  # azurekv:https://...
    #: The RBAC data action (Key Vault or Managed HSM) and the access-policy key permission.
    data_action: str
    key_permission: str
    #: The role that grants it (Key Vault: Azure RBAC; Managed HSM: its local RBAC).
    role: str


def _said(error: AzureError) -> str:
    """Azure's error code and message, sanitised (server text is untrusted), else the first line
    of the SDK's message with the Entra ID error (``AADSTS...``) it carries, if any."""
    detail = error.error if isinstance(error, HttpResponseError) else None
    if detail is not None and detail.code:
        code = untrusted_line(str(detail.code), limit=40)
        message = untrusted_line(str(detail.message or ""), limit=160)
        return f"{code}: {message}" if message else code
    text = str(getattr(error, "message", "") or "")
    lines = text.strip().splitlines()
    line = untrusted_line(lines[0], limit=160) if lines else type(error).__name__
    entra = re.search(r"AADSTS[0-9]{1,10}", text)
    return f"{line} {entra.group(0)}" if entra else line


def translate_azure_error(error: Exception, call: AzureCall) -> CredProcError:
    """The exit-code error for an exception raised by the Key Vault SDK during ``call``."""
    where = f"Azure Key Vault {call.operation} for {call.key}"
    if isinstance(error, CredentialUnavailableError):
        return KeySourceError(f"{where}: no Azure credential is available", hint=CREDENTIAL_HINT)
    if isinstance(error, ResourceNotFoundError):
        return KeySourceError(
            f"{where}: no such key or version (HTTP 404, {_said(error)})",
            hint="Check the key's name and version (az keyvault key show --id URL), or drop the "
            "version to use the latest",
        )
    if isinstance(error, ClientAuthenticationError) and error.status_code:
        return KeySourceError(
            f"{where}: the vault refused the Azure token (HTTP {error.status_code}, "
            f"{_said(error)})",
            hint=f"{CREDENTIAL_HINT}; the identity must be of the vault's tenant",
        )
    if isinstance(error, ClientAuthenticationError):
        # DefaultAzureCredential: no credential configured, or Entra ID refused the one that is.
        return KeySourceError(
            f"{where}: DefaultAzureCredential got no token ({_said(error)})", hint=CREDENTIAL_HINT
        )
    if isinstance(error, HttpResponseError):
        return _status_error(error, call, where)
    if isinstance(error, (ServiceRequestError, ServiceResponseError)):
        inner = getattr(error, "inner_exception", None)
        if "SSLError" in type(inner).__name__ or "CERTIFICATE" in str(inner).upper():
            return KeySourceError(
                f"{where}: the vault's TLS certificate could not be verified",
                hint="Check the vault URL, or the CA bundle (REQUESTS_CA_BUNDLE) behind a TLS "
                "proxy",
            )
        return TransientError(
            f"{where}: the vault could not be reached or did not answer in time "
            f"({type(error).__name__})",
            hint="Retry later, or raise --timeout; check the network path to the vault",
        )
    if isinstance(error, ValueError) and "challenge" in str(error).lower():
        return KeySourceError(
            f"{where}: the server's authentication challenge names another resource than "
            "Key Vault (or none), so no token was sent",
            hint="Use the vault's own URL; a server that asks for a token of another resource "
            "is not Azure Key Vault",
        )
    if isinstance(error, (AzureError, ValueError)):
        # DeserializationError (a ValueError) and kin: an answer that is not Key Vault's.
        return KeySourceError(
            f"{where}: the answer is not a Key Vault answer ({type(error).__name__})",
            hint="Check that the URL names an Azure Key Vault or Managed HSM key",
        )
    raise error


def _status_error(error: HttpResponseError, call: AzureCall, where: str) -> CredProcError:
    status = error.status_code or 0
    said = _said(error)
    if status == 403:
        if "firewall" in said.lower():
            return KeySourceError(
                f"{where}: refused by the vault's network rules (HTTP 403, {said})",
                hint="Allow this network in the vault's firewall, or use a private endpoint",
            )
        return KeySourceError(
            f"{where}: permission denied (HTTP 403, {said})",
            hint=f"Grant the identity {call.data_action} on the key ({call.role}), or with access "
            f"policies the key permission {call.key_permission}",
        )
    if status in TRANSIENT_STATUSES:
        return TransientError(
            f"{where}: HTTP {status} ({said})",
            hint="Key Vault is throttling or unavailable; retry later, or raise --timeout",
        )
    if status == 400:
        return KeySourceError(
            f"{where}: the request was refused (HTTP 400, {said})",
            hint="Use an RSA key (RSA or RSA-HSM, 2048 bits or more) whose key_ops include sign",
        )
    return KeySourceError(
        f"{where}: HTTP {status} ({said})",
        hint="Check the key URL and the identity's permissions on the key",
    )
