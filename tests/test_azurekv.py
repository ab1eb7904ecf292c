"""``azurekv:`` end to end: the official Azure SDK (azure-keyvault-keys, azure-identity) with the
real ``DefaultAzureCredential`` (workload identity) against the Key Vault stand-in, the Salesforce
emulator verifying what Key Vault signed: ``get``, ``cert``, ``doctor``, and the challenge checks
that keep an Azure AD token from going anywhere but Key Vault."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from azure.core.credentials import AccessToken
from azurekv_fixtures import azure_environment, running_vault
from azurekv_standin import CLIENT, VERSION, Fault, KeyVaultStandIn
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from faulty_emulator import FaultyEmulator
from helpers import CLIENT_ID, EXE, get_args, pem_public, run_cli
from readme_recipes import recipe

from sf_credproc.clock import SystemClock
from sf_credproc.config.key_uri import parse_key_uri
from sf_credproc.deadline import Deadline
from sf_credproc.errors import KeySourceError
from sf_credproc.keys.azurekv_source import AzureKeyVaultKeySource
from sf_credproc.keys.source import KeySourceContext


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
    run = run_cli(get_args(org, vault.key_uri("localhost")), azure_env)
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
    assert f"(key jwt, version {VERSION})" in checks["public key"]["detail"]
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


def test_doctor_names_the_latest_version(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    code, checks = doctor(org, azure_env, vault.key_uri("vault", version=None))
    assert code == 0, checks
    assert f"(key jwt, the latest version, now {VERSION})" in checks["public key"]["detail"]


def test_readme_recipe_runs_as_written(
    org: FaultyEmulator,
    vault: KeyVaultStandIn,
    azure_env: dict[str, str],
    app_key: rsa.RSAPrivateKey,
) -> None:
    """The recipe's vault host reaches the stand-in through the CONNECT proxy; only the login
    URL becomes the emulator's."""
    text = recipe("azurekv-get").text
    vault.key_name = "salesforce-jwt"
    org.register_app("3MVG9...", pem_public(app_key))
    org.users["integration@acme.example"].approved_apps.add("3MVG9...")
    command = text.replace("https://acme.my.salesforce.com", org.url)
    assert command != text
    environment = {**azure_env, "PATH": f"{EXE.parent}:{azure_env['PATH']}"}
    done = subprocess.run(
        ["sh", "-c", command],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["AccessToken"] in org.sessions
    assert {s.host for s in vault.seen if s.path.startswith("/keys/")} == {
        "acme-jwt.vault.azure.net"
    }


class StaticCredential:
    """A ``TokenCredential`` of a Python program's own (here: the stand-in's token)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


class NoAws:
    """An azurekv: key makes no AWS call."""

    def client(self, service: str, *, region: str | None = None) -> Any:
        raise AssertionError(f"an azurekv: key asked for an AWS {service} client")


def key_source(
    vault: KeyVaultStandIn, credential: StaticCredential, host: str = "loopback"
) -> AzureKeyVaultKeySource:
    clock = SystemClock()
    context = KeySourceContext(aws=NoAws(), environ={}, deadline=Deadline(20, clock), clock=clock)
    uri = parse_key_uri(vault.key_uri(host), "key=")
    return AzureKeyVaultKeySource.from_uri(uri, context, credential=credential)


def test_a_python_program_passes_its_own_credential(
    vault: KeyVaultStandIn, ca_bundle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_bundle)
    credential = StaticCredential(vault.token)
    key = key_source(vault, credential).load_key()
    signature = key.sign(b"probe", padding.PKCS1v15(), hashes.SHA256())
    vault.key.public_key().verify(signature, b"probe", padding.PKCS1v15(), hashes.SHA256())
    assert credential.scopes == [("https://vault.azure.net/.default",)]
    assert vault.token_requests == []  # DefaultAzureCredential was not used


def test_a_passed_credential_gets_key_vault_scopes_only(
    vault: KeyVaultStandIn, ca_bundle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_bundle)
    vault.resource = "https://graph.microsoft.com"
    credential = StaticCredential(vault.token)
    key = key_source(vault, credential, "localhost").load_key()
    with pytest.raises(KeySourceError, match="another resource than Key Vault"):
        key.sign(b"probe", padding.PKCS1v15(), hashes.SHA256())
    assert credential.scopes == []
