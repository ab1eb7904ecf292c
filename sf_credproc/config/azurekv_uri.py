"""``azurekv:https://NAME.vault.azure.net/keys/KEY[/VERSION]``: a key in Key Vault or Managed HSM.

The target is the key identifier Azure prints (``az keyvault key show --query key.kid``): the
vault's URL, ``/keys/``, the key's name and optionally its version ("Azure Key Vault keys, secrets
and certificates overview", object identifiers). The URL decides where an Azure AD (Entra ID) token
is sent, so it is checked as strictly as the login URL:

- ``https`` only, no user information, no port, no query or fragment, no percent-encoding, no
  backslash (urllib3 and ``urllib.parse`` disagree about ``\\`` in an authority: the host checked
  must be the host connected to, so both parsers must see the same one);
- the host is one vault name under a Key Vault DNS suffix of a live Azure cloud (Microsoft,
  "DNS suffixes for object identifiers":
  https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates#dns-suffixes-for-object-identifiers).
  Azure Germany's ``vault.microsoftazure.de`` is not accepted: Microsoft Cloud Germany closed on
  29 October 2021 (azure-identity deprecated ``AZURE_GERMANY`` for that reason);
- vault and Managed HSM names follow Azure's naming rules (3 to 24 letters, digits and hyphens,
  starting with a letter, ending with a letter or digit, no ``--``); key names are 1 to 127 letters,
  digits and hyphens; a version is 32 hexadecimal digits.

A loopback host (``https://127.0.0.1:PORT``, ``https://localhost:PORT``, a port required) is a
stand-in for tests and local development: for it alone the SDK's challenge-resource verification is
turned off, and the credential still hands out Key Vault tokens only (``keys/azurekv_client.py``).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

#: Key Vault DNS suffixes of the live Azure clouds: public, Azure China (21Vianet), US Government.
VAULT_SUFFIXES = ("vault.azure.net", "vault.azure.cn", "vault.usgovcloudapi.net")
#: Managed HSM's DNS suffixes in the same clouds.
MANAGED_HSM_SUFFIXES = (
    "managedhsm.azure.net",
    "managedhsm.azure.cn",
    "managedhsm.usgovcloudapi.net",
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
HINT = (
    "Use azurekv:https://VAULT.vault.azure.net/keys/KEY or .../keys/KEY/VERSION (the key's kid, "
    "az keyvault key show --query key.kid), or a Managed HSM's https://HSM.managedhsm.azure.net/..."
)

_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_VAULT_NAME_CHARS = _LOWER | frozenset("0123456789-")
_KEY_NAME_CHARS = _VAULT_NAME_CHARS | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEX = frozenset("0123456789abcdefABCDEF")
#: Characters that would change what is requested, or that parsers read differently.
_NEVER = frozenset("\\@?#%;, \t\r\n\"'<>^`{|}")


class AzureKeyUriError(ValueError):
    """Why a key identifier is refused (the caller adds where it came from and the fix)."""


@dataclass(frozen=True)
class AzureKeyVaultUri:
    """A checked key identifier: the vault's URL (scheme and host, plus the port of a loopback
    stand-in), the key's name and its version (``None``: the latest)."""

    vault_url: str
    host: str
    name: str
    version: str | None
    #: ``vault`` (Key Vault) or ``managedhsm`` (Managed HSM): their permissions differ.
    kind: str
    #: A loopback stand-in: the SDK's challenge-resource verification is off for it alone.
    loopback: bool

    @property
    def key_id(self) -> str:
        """The identifier the SDK is given (``CryptographyClient(key_id, ...)``)."""
        version = f"/{self.version}" if self.version else ""
        return f"{self.vault_url}/keys/{self.name}{version}"


def _vault_name_ok(name: str) -> bool:
    return (
        3 <= len(name) <= 24
        and set(name) <= _VAULT_NAME_CHARS
        and name[0] in _LOWER
        and name[-1] != "-"
        and "--" not in name
    )


def _host_kind(host: str, port: int | None) -> tuple[str, bool]:
    """``(kind, loopback)`` for an accepted authority, else ``AzureKeyUriError``."""
    if host in LOOPBACK_HOSTS:
        if port is None:
            raise AzureKeyUriError("names a loopback stand-in without its port")
        return "vault", True
    if port is not None:
        raise AzureKeyUriError("names a port: Key Vault and Managed HSM listen on 443 alone")
    name, _, suffix = host.partition(".")
    kind = "vault" if suffix in VAULT_SUFFIXES else "managedhsm"
    if suffix not in VAULT_SUFFIXES + MANAGED_HSM_SUFFIXES:
        raise AzureKeyUriError(
            "is not on a Key Vault or Managed HSM host (*.vault.azure.net, "
            "*.managedhsm.azure.net, or the same in Azure China or US Government)"
        )
    if not _vault_name_ok(name):
        raise AzureKeyUriError(f"names a {kind} that is not a valid vault name")
    return kind, False


def parse_azure_key_id(text: str) -> AzureKeyVaultUri:
    """The key identifier ``text`` (after ``azurekv:``), checked; else ``AzureKeyUriError``."""
    # Here, not at the top: every --key is parsed on a cache hit, which imports no HTTP library.
    from urllib3.util import parse_url

    if not text.isprintable() or set(text) & _NEVER:
        raise AzureKeyUriError(
            "holds a character a key identifier never has (\\, @, ?, #, %, spaces, quotes)"
        )
    if not text.startswith("https://"):
        raise AzureKeyUriError("is not an https:// URL (tokens are sent over TLS only)")
    try:
        split = urllib.parse.urlsplit(text)
        port = split.port
        parsed = parse_url(text)  # what requests, and so the SDK's transport, connects to
    except ValueError:  # urllib3's LocationParseError is a ValueError too
        raise AzureKeyUriError(
            "has an authority that is not a host and a port from 1 to 65535"
        ) from None
    host = (split.hostname or "").lower()
    if (parsed.host or "").lower() != host or parsed.port != port or parsed.auth is not None:
        raise AzureKeyUriError("has an authority that HTTP clients read differently")
    if split.netloc.lower() != (f"{host}:{port}" if port is not None else host):
        raise AzureKeyUriError("has an authority with more than a host and a port")
    kind, loopback = _host_kind(host, port)
    segments = split.path.split("/")
    if len(segments) not in (3, 4) or segments[0] or segments[1] != "keys":
        raise AzureKeyUriError("is not a key's URL: /keys/KEY or /keys/KEY/VERSION after the host")
    name = segments[2]
    if not (0 < len(name) <= 127 and set(name) <= _KEY_NAME_CHARS):
        raise AzureKeyUriError("names a key that is not 1 to 127 letters, digits and hyphens")
    version = segments[3] if len(segments) == 4 else None
    if version == "":
        raise AzureKeyUriError("ends with a /: name the key, or the key and its version")
    if version is not None and not (len(version) == 32 and set(version) <= _HEX):
        raise AzureKeyUriError("has a key version that is not 32 hexadecimal digits")
    authority = f"{host}:{port}" if port is not None else host
    return AzureKeyVaultUri(
        f"https://{authority}", host, name, version.lower() if version else None, kind, loopback
    )
