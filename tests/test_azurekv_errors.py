"""``azurekv:`` errors, per documented Key Vault status and error code, through the real SDK: each
is one stderr line naming the fix and the documented exit code; retries stay inside ``--timeout``."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from azurekv_fixtures import azure_environment, running_vault
from azurekv_standin import Fault, KeyVaultStandIn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from faulty_emulator import FaultyEmulator
from helpers import get_args, run_cli, throwaway_key, under_load


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


@pytest.mark.parametrize(
    ("code", "needles"),
    [
        (
            "ForbiddenByRbac",
            ["Microsoft.KeyVault/vaults/keys/sign/action", "Key Vault Crypto User"],
        ),
        ("ForbiddenByPolicy", ["access policies the key permission sign"]),
        ("Forbidden", ["Microsoft.KeyVault/vaults/keys/sign/action"]),
    ],
)
def test_403_names_the_sign_permission(
    code: str,
    needles: list[str],
    org: FaultyEmulator,
    vault: KeyVaultStandIn,
    azure_env: dict[str, str],
) -> None:
    vault.fail("sign", Fault(403, code))
    run = run_cli(get_args(org, vault.key_uri("vault")), azure_env)
    run.assert_failed(3, f"permission denied (HTTP 403, {code}: stand-in", *needles)
    assert len(vault.calls("POST", "/sign")) == 1  # refused once, not retried
    assert org.token_requests == []


def test_managed_hsm_403_names_its_data_action(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    vault.resource = "https://managedhsm.azure.net"
    vault.fail("sign", Fault(403, "Forbidden"))
    run = run_cli(get_args(org, vault.key_uri("hsm")), azure_env)
    run.assert_failed(
        3, "Microsoft.KeyVault/managedHsm/keys/sign/action", "Managed HSM Crypto User"
    )


def test_firewall_403_names_the_network_rules(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    vault.fail("sign", Fault(403, "ForbiddenByFirewall"))
    run = run_cli(get_args(org, vault.key_uri("vault")), azure_env)
    run.assert_failed(3, "network rules", "firewall")


def test_404_no_such_key(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    vault.fail("sign", Fault(404, "KeyNotFound"))
    run = run_cli(get_args(org, vault.key_uri("vault")), azure_env)
    run.assert_failed(3, "no such key or version (HTTP 404, KeyNotFound", "az keyvault key show")


def test_400_a_key_that_cannot_sign_rs256(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    vault.fail("sign", Fault(400, "BadParameter"))
    run = run_cli(get_args(org, vault.key_uri("vault")), azure_env)
    run.assert_failed(3, "refused (HTTP 400, BadParameter", "RSA or RSA-HSM")


def test_401_after_the_challenge_is_a_refused_credential(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    """A 401 without a challenge, the token in hand (another tenant, a revoked identity)."""
    vault.fail("sign", Fault(401, "Unauthorized"))
    run = run_cli(get_args(org, vault.key_uri("vault")), azure_env)
    run.assert_failed(3, "the vault refused the Azure token (HTTP 401", "DefaultAzureCredential")


def test_entra_id_refusing_the_identity(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    vault.fail("token", Fault(400, "invalid_client"))
    run = run_cli(get_args(org, vault.key_uri("vault")), azure_env)
    run.assert_failed(
        3, "DefaultAzureCredential got no token", "AADSTS7000215", "workload identity"
    )
    assert not any(s.authorized for s in vault.seen)


def test_no_azure_credential(
    org: FaultyEmulator, vault: KeyVaultStandIn, env: dict[str, str]
) -> None:
    """Workload identity chosen (AZURE_TOKEN_CREDENTIALS) but not configured."""
    environment = {**env, "AZURE_TOKEN_CREDENTIALS": "WorkloadIdentityCredential"}
    run = run_cli(get_args(org, vault.key_uri()), environment)
    run.assert_failed(3, "DefaultAzureCredential got no token", "az login")
    assert not any(s.authorized for s in vault.seen)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_5xx_are_exit_5_after_retries(
    status: int, org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    vault.fail("sign", Fault(status, "Throttled" if status == 429 else "ServiceUnavailable"))
    run = run_cli([*get_args(org, vault.key_uri("vault")), "--timeout", "20"], azure_env)
    run.assert_failed(5, f"HTTP {status}", "retry later")
    assert len(vault.calls("POST", "/sign")) >= 3  # the SDK's retries (POST included), and ours


def test_a_transient_failure_then_success(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    vault.fail("sign", Fault(503, "ServiceUnavailable", times=1))
    run = run_cli(get_args(org, vault.key_uri("vault")), azure_env)
    assert run.credential()["AccessToken"] in org.sessions


def test_retry_after_past_the_deadline_is_not_waited_for(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    vault.fail("sign", Fault(429, "Throttled", retry_after="3600"))
    started = time.monotonic()
    run = run_cli([*get_args(org, vault.key_uri("vault")), "--timeout", "10"], azure_env)
    run.assert_failed(5, "retry after 3600 s")
    assert time.monotonic() - started < 30


def test_a_hanging_vault_ends_within_the_deadline(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    vault.fail("sign", Fault(hang=True))
    started = time.monotonic()
    run = run_cli([*get_args(org, vault.key_uri("vault")), "--timeout", "4"], azure_env)
    elapsed = time.monotonic() - started
    assert run.code == 5, run.stderr
    assert "deadline" in run.stderr or "did not answer in time" in run.stderr
    assert elapsed < 4 + under_load(10)  # the deadline, and room for a loaded machine


def test_an_ec_key_is_refused(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str], tmp_path: Path
) -> None:
    vault.ec_key = ec.generate_private_key(ec.SECP256R1())
    run = run_cli(get_args(org, vault.key_uri("vault")), azure_env)
    run.assert_failed(3, "not an RSA signature of 2048 bits or more", "az keyvault key create")
    out = tmp_path / "cert.pem"
    run = run_cli(["cert", "--key", vault.key_uri("vault"), "--out", str(out)], azure_env)
    run.assert_failed(3, "has key type EC, not RSA")


def test_a_signature_by_another_key_is_refused_by_salesforce(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str]
) -> None:
    vault.wrong_signer = throwaway_key()
    run = run_cli(get_args(org, vault.key_uri("vault")), azure_env)
    assert run.code == 4, run.stderr
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1


def test_a_small_rsa_key_is_refused(
    org: FaultyEmulator, ca: trustme.CA, env: dict[str, str], tmp_path: Path
) -> None:
    with (
        running_vault(ca, throwaway_key(1024)) as small,
        azure_environment(env, small, tmp_path) as environment,
    ):
        run = run_cli(get_args(org, small.key_uri("vault")), environment)
    run.assert_failed(3, "1024-bit signature, not an RSA signature of 2048 bits or more")


def test_without_the_azure_extra_it_says_what_to_install(env: dict[str, str]) -> None:
    """The SDK made unimportable in a child process, as in an installation without the extra."""
    program = (
        "import sys; sys.modules['azure.keyvault.keys.crypto'] = None; "
        "from sf_credproc.launch import main; sys.exit(main())"
    )
    uri = "azurekv:https://sfcp.vault.azure.net/keys/jwt"
    done = subprocess.run(
        [sys.executable, "-c", program, "cert", "--key", uri],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "pip install 'sf-credproc[azure]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_refused_connection_is_exit_5(org: FaultyEmulator, azure_env: dict[str, str]) -> None:
    # Bound but not listening, and kept bound for the whole run: connections are refused, and no
    # other test running at the same time can be given the port and receive them.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        uri = f"azurekv:https://127.0.0.1:{port}/keys/jwt"
        run = run_cli([*get_args(org, uri), "--timeout", "10"], azure_env)
    run.assert_failed(5, "could not be reached or did not answer in time", "Retry later")


def test_an_untrusted_certificate_is_exit_3(
    org: FaultyEmulator, vault: KeyVaultStandIn, azure_env: dict[str, str], tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    environment = {**azure_env, "REQUESTS_CA_BUNDLE": str(other)}
    run = run_cli(get_args(org, vault.key_uri("vault")), environment)
    run.assert_failed(3, "TLS certificate could not be verified", "REQUESTS_CA_BUNDLE")
    assert vault.token_requests == []
