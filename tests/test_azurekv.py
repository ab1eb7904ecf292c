"""``azurekv:`` end to end: the official Azure SDK (azure-keyvault-keys, azure-identity) with the
real ``DefaultAzureCredential`` (workload identity) against the Key Vault stand-in, the Salesforce
emulator verifying what Key Vault signed: ``get``, ``cert``, ``doctor``, and the challenge checks
that keep an Azure AD token from going anywhere but Key Vault."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from azurekv_fixtures import azure_environment, running_vault
from azurekv_standin import CLIENT, VERSION, Fault, KeyVaultStandIn
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from faulty_emulator import FaultyEmulator
from helpers import CLIENT_ID, get_args, run_cli


@pytest.fixture
def vault(ca: trustme.CA, app_key: rsa.RSAPrivateKey) -> Iterator[KeyVaultStandIn]:
    with running_vault(ca, app_key) as standin:
        yield standin


@pytest.fixture
def azure_env(
    env: dict[str, str], vault: KeyVaultStandIn, tmp_path: Path
) -> Iterator[dict[str, str]]:
    with azure_environment(env, vault, tmp_path) as environment:
        yield environment


def assert_signed_in_key_vault(org: FaultyEmulator, vault: KeyVaultStandIn, run: Any) -> None:
    assert run.credential()["AccessToken"] in org.sessions
    signs = vault.calls("POST", "/sign")
    assert signs and signs[-1].authorized
    assert org.token_requests[-1].status == 200


def test_get_signs_in_key_vault_with_default_azure_credential(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    run = run_cli(get_args(org, vault.key_uri("vault")), azure_env)
    assert_signed_in_key_vault(org, vault, run)
    # The 401 challenge first, then a token from Entra ID for Key Vault, then the calls with it.
    assert [(s.method, s.authorized) for s in vault.seen if s.path.startswith("/keys/")] == [
        ("GET", False),
        ("GET", True),
        ("POST", True),
    ]
    assert {s.host for s in vault.seen if s.path.startswith("/keys/")} == {vault.vault_host}
    (token_request,) = vault.token_requests
    assert token_request["client_id"] == CLIENT
    assert token_request["scope"] == "https://vault.azure.net/.default"
    assert token_request["client_assertion_type"].endswith("jwt-bearer")


def test_runtime_needs_only_the_sign_permission(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    """An identity that may sign but not read the key (the signer role) still logs in."""
    vault.fail("get", Fault(403, "ForbiddenByRbac"))
    run = run_cli(get_args(org, vault.key_uri("vault")), azure_env)
    assert_signed_in_key_vault(org, vault, run)


def test_latest_version_on_a_loopback_stand_in(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    run = run_cli(get_args(org, vault.key_uri(version=None)), azure_env)
    assert_signed_in_key_vault(org, vault, run)
    # The SDK reads the key first and signs with the version Key Vault names as the latest.
    assert vault.calls("POST", f"/keys/jwt/{VERSION}/sign")


def test_managed_hsm(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    vault.resource = "https://managedhsm.azure.net"
    run = run_cli(get_args(org, vault.key_uri("hsm")), azure_env)
    assert_signed_in_key_vault(org, vault, run)
    assert vault.token_requests[0]["scope"] == "https://managedhsm.azure.net/.default"


def test_a_challenge_for_another_resource_gets_no_token(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    """The SDK's challenge-resource verification, on for real vault hosts, refuses a challenge
    whose resource the vault's host is not under: no token is requested, none is sent."""
    vault.resource = "https://management.azure.com"
    run = run_cli(get_args(org, vault.key_uri("vault")), azure_env)
    run.assert_failed(3, "challenge names another resource", "no token was sent")
    assert vault.token_requests == []
    assert not any(s.authorized for s in vault.seen)
    assert org.token_requests == []


def test_a_loopback_stand_in_gets_key_vault_tokens_only(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    """Verification is off for loopback alone; the credential still hands out Key Vault tokens
    only, so a local server cannot obtain a token for another Azure resource."""
    vault.resource = "https://management.azure.com"
    run = run_cli(get_args(org, vault.key_uri()), azure_env)
    run.assert_failed(3, "another resource than Key Vault", "none was sent")
    assert vault.token_requests == []
    assert not any(s.authorized for s in vault.seen)


def test_cert_from_a_key_vault_key(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "connected-app.pem"
    run = run_cli(["cert", "--key", vault.key_uri("vault"), "--out", str(out)], azure_env)
    assert run.code == 0, run.stderr
    certificate = x509.load_pem_x509_certificate(out.read_bytes())
    public = vault.key.public_key()
    assert isinstance(certificate.public_key(), rsa.RSAPublicKey)
    assert certificate.public_key().public_numbers() == public.public_numbers()  # type: ignore[union-attr]
    assert certificate.signature_hash_algorithm is not None
    public.verify(
        certificate.signature,
        certificate.tbs_certificate_bytes,
        padding.PKCS1v15(),
        certificate.signature_hash_algorithm,
    )
    org.register_app(CLIENT_ID, out.read_bytes())
    assert run_cli(get_args(org, vault.key_uri("vault")), azure_env).code == 0


def test_cert_needs_the_read_permission(
    vault: KeyVaultStandIn, azure_env: dict[str, str], tmp_path: Path
) -> None:
    vault.fail("get", Fault(403, "ForbiddenByRbac"))
    out = tmp_path / "connected-app.pem"
    run = run_cli(["cert", "--key", vault.key_uri("vault"), "--out", str(out)], azure_env)
    run.assert_failed(3, "permission denied", "Microsoft.KeyVault/vaults/keys/read", "get")
    assert not out.exists()


def doctor(org: FaultyEmulator, env: dict[str, str], key: str) -> tuple[int, dict[str, Any]]:
    run = run_cli(["doctor", *get_args(org, key)[1:], "--json"], env)
    checks = {c["name"]: c for c in json.loads(run.stdout)["checks"]}
    return run.code, checks


def test_doctor_checks_a_key_vault_key(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    code, checks = doctor(org, azure_env, vault.key_uri("vault"))
    assert code == 0, checks
    assert checks["key"]["status"] == "ok"
    assert f"in Azure Key Vault at https://{vault.vault_host}" in checks["key"]["detail"]
    assert checks["public key"]["status"] == "ok"
    assert "verifies the key's signature" in checks["public key"]["detail"]
    assert checks["token exchange"]["status"] == "ok"


def test_doctor_with_a_sign_only_identity_skips_the_public_key(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    vault.fail("get", Fault(403, "ForbiddenByRbac"))
    code, checks = doctor(org, azure_env, vault.key_uri("vault"))
    assert code == 0, checks
    assert checks["public key"]["status"] == "skipped"
    assert "Microsoft.KeyVault/vaults/keys/read" in checks["public key"]["fix"]


def test_doctor_finds_a_signature_the_public_key_does_not_verify(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    from helpers import throwaway_key

    vault.wrong_signer = throwaway_key()
    code, checks = doctor(org, azure_env, vault.key_uri("vault"))
    assert code == 3
    assert checks["public key"]["status"] == "FAILED"
    assert "signs with another key than the public key it reports" in checks["public key"]["detail"]
