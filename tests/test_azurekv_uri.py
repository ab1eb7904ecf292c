"""``azurekv:`` key identifiers: only Key Vault and Managed HSM hosts of live Azure clouds, over
https, with nothing an HTTP client could read as another host; bad ones are exit 2 before any call."""

from __future__ import annotations

import pytest
import requests
from faulty_emulator import FaultyEmulator
from helpers import get_args, run_cli
from hypothesis import given
from hypothesis import strategies as st
from urllib3.util import parse_url

from sf_credproc.config.azurekv_uri import (
    LOOPBACK_HOSTS,
    MANAGED_HSM_SUFFIXES,
    VAULT_SUFFIXES,
    AzureKeyUriError,
    parse_azure_key_id,
)
from sf_credproc.config.key_uri import parse_key_uri
from sf_credproc.errors import ConfigError

VERSION = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "vault_url", "version", "kind", "loopback"),
    [
        ("https://acme-jwt.vault.azure.net/keys/sf", "https://acme-jwt.vault.azure.net", None, "vault", False),
        (f"https://acme.vault.azure.net/keys/sf-jwt/{VERSION}", "https://acme.vault.azure.net", VERSION, "vault", False),
        (f"https://acme.vault.azure.net/keys/sf/{VERSION.upper()}", "https://acme.vault.azure.net", VERSION, "vault", False),
        ("https://ACME.Vault.Azure.Net/keys/sf", "https://acme.vault.azure.net", None, "vault", False),
        ("https://acme.vault.azure.cn/keys/sf", "https://acme.vault.azure.cn", None, "vault", False),
        ("https://acme.vault.usgovcloudapi.net/keys/sf", "https://acme.vault.usgovcloudapi.net", None, "vault", False),
        ("https://acme.managedhsm.azure.net/keys/sf", "https://acme.managedhsm.azure.net", None, "managedhsm", False),
        ("https://acme.managedhsm.azure.cn/keys/sf", "https://acme.managedhsm.azure.cn", None, "managedhsm", False),
        ("https://acme.managedhsm.usgovcloudapi.net/keys/sf", "https://acme.managedhsm.usgovcloudapi.net", None, "managedhsm", False),
        ("https://127.0.0.1:8443/keys/sf", "https://127.0.0.1:8443", None, "vault", True),
        ("https://localhost:8443/keys/sf", "https://localhost:8443", None, "vault", True),
    ],
)  # fmt: skip
def test_key_identifiers_accepted(
    text: str, vault_url: str, version: str | None, kind: str, loopback: bool
) -> None:
    key = parse_azure_key_id(text)
    assert (key.vault_url, key.version, key.kind, key.loopback) == (
        vault_url,
        version,
        kind,
        loopback,
    )
    assert key.key_id.startswith(vault_url + "/keys/")
    assert parse_key_uri(f"azurekv:{text}", "--key").scheme == "azurekv"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("http://acme.vault.azure.net/keys/sf", "not an https:// URL"),
        ("acme.vault.azure.net/keys/sf", "not an https:// URL"),
        ("https://evil.example/keys/sf", "not on a Key Vault or Managed HSM host"),
        ("https://acme.vault.azure.net.evil.example/keys/sf", "not on a Key Vault"),
        ("https://vault.azure.net/keys/sf", "not on a Key Vault"),
        ("https://a.b.vault.azure.net/keys/sf", "not on a Key Vault"),
        ("https://acme.vault.azure.net./keys/sf", "not on a Key Vault"),
        # Microsoft Cloud Germany closed on 29 October 2021.
        ("https://acme.vault.microsoftazure.de/keys/sf", "not on a Key Vault"),
        ("https://acme.vault.azure.net:443/keys/sf", "names a port"),
        ("https://acme.vault.azure.net:8443/keys/sf", "names a port"),
        ("https://127.0.0.1/keys/sf", "loopback stand-in without its port"),
        ("https://127.0.0.1:99999/keys/sf", "not a host and a port from 1 to 65535"),
        ("https://user@acme.vault.azure.net/keys/sf", "holds a character"),
        ("https://evil.example\\@acme.vault.azure.net/keys/sf", "holds a character"),
        ("https://acme.vault.azure.net\\.evil.example/keys/sf", "holds a character"),
        ("https://evil.example#@acme.vault.azure.net/keys/sf", "holds a character"),
        ("https://evil.example?@acme.vault.azure.net/keys/sf", "holds a character"),
        ("https://acme.vault.azure.net/keys/sf?api-version=1", "holds a character"),
        ("https://acme%2evault.azure.net/keys/sf", "holds a character"),
        ("https://acme.vault.azure.net/keys/s%66", "holds a character"),
        ("https://ac.vault.azure.net/keys/sf", "not a valid vault name"),
        ("https://1acme.vault.azure.net/keys/sf", "not a valid vault name"),
        ("https://ac--me.vault.azure.net/keys/sf", "not a valid vault name"),
        ("https://acme-.vault.azure.net/keys/sf", "not a valid vault name"),
        ("https://acme_x.vault.azure.net/keys/sf", "not a valid vault name"),
        ("https://acme.vault.azure.net/secrets/sf", "not a key's URL"),
        ("https://acme.vault.azure.net/keys", "not a key's URL"),
        ("https://acme.vault.azure.net/keys/sf/sign/x", "not a key's URL"),
        ("https://acme.vault.azure.net/keys/../sf", "names a key that is not"),
        ("https://acme.vault.azure.net/keys/s.f", "names a key that is not"),
        ("https://acme.vault.azure.net/keys/sf/", "ends with a /"),
        ("https://acme.vault.azure.net/keys/sf/123", "not 32 hexadecimal digits"),
        ("https://acme.vault.azure.net/keys/" + "k" * 128, "names a key that is not"),
    ],
)
def test_key_identifiers_refused(text: str, why: str) -> None:
    with pytest.raises(AzureKeyUriError, match=None) as refused:
        parse_azure_key_id(text)
    assert why in str(refused.value)
    with pytest.raises(ConfigError) as config_error:
        parse_key_uri(f"azurekv:{text}", "SF_CREDPROC_KEY")
    assert why in config_error.value.message
    assert "azurekv:https://VAULT.vault.azure.net/keys/KEY" in (config_error.value.hint or "")


def test_a_bad_key_uri_is_exit_2_before_any_call(org: FaultyEmulator, env: dict[str, str]) -> None:
    run = run_cli(get_args(org, "azurekv:https://evil.example\\@acme.vault.azure.net/keys/sf"), env)
    run.assert_failed(2, "--key", "holds a character", "az keyvault key show")
    assert org.token_requests == []


_AUTHORITY_CHARS = "abcdeflmnotuvz0123456789.-:@\\/?#%[]_ "


@given(
    st.text(_AUTHORITY_CHARS, max_size=12),
    st.sampled_from([*VAULT_SUFFIXES, *MANAGED_HSM_SUFFIXES, "evil.example", "127.0.0.1:1"]),
    st.text(_AUTHORITY_CHARS, max_size=8),
)
def test_what_is_accepted_is_what_clients_connect_to(prefix: str, suffix: str, tail: str) -> None:
    """Whatever is accepted, urllib3 and requests (the SDK's transport) connect to the host the
    check approved, and that host is a vault's or loopback."""
    text = f"https://{prefix}{suffix}{tail}/keys/sf"
    try:
        key = parse_azure_key_id(text)
    except AzureKeyUriError:
        return
    for url in (text, key.key_id):
        host = parse_url(url).host or ""
        prepared = requests.Request("GET", url).prepare().url or ""
        assert host.lower() == key.host
        assert parse_url(prepared).host == key.host
    assert key.host in LOOPBACK_HOSTS or key.host.partition(".")[2] in (
        VAULT_SUFFIXES + MANAGED_HSM_SUFFIXES
    )
