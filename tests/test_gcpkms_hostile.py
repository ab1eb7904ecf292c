"""``gcpkms:`` against hostile or failing Cloud KMS answers, through the official SDK.

Each documented failure (Cloud KMS REST reference; "Verifying end-to-end data integrity") is served
by the stand-in (``gcpkms_standin.py``) and must end as one stderr line with the documented exit
code and the fix: damaged CRC32C fields or another version's name are retried (exit 5 when they
persist), 403/404/400 are exit 3 naming the permission or the reason, 429/5xx and a peer that never
answers are exit 5 within ``--timeout``, and missing or unknown credentials name the fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from gcpkms_standin import URI, GcpKmsStandIn, gcp_env
from helpers import get_args, run_cli, run_process, run_timed

from sf_credproc.emulator import SalesforceEmulator

#: Generous: the machine is shared by many workers; the point is "not the SDK's 60 s".
SLACK_SECONDS = 12.0
#: --timeout of the tests that retry until it passes: enough for the SDK's import and first
#: attempt on a loaded machine, so that what kept failing is what the message names.
RETRY_TIMEOUT = 8


@pytest.fixture
def gcpkms(app_key: rsa.RSAPrivateKey) -> Iterator[GcpKmsStandIn]:
    with GcpKmsStandIn() as standin:
        standin.add_key(app_key)
        yield standin


@pytest.fixture
def genv(env: dict[str, str], gcpkms: GcpKmsStandIn, tmp_path: Path) -> dict[str, str]:
    return gcp_env(env, gcpkms, tmp_path)


def doctor(org: SalesforceEmulator, env: dict[str, str]) -> tuple[int, dict[str, dict[str, Any]]]:
    run = run_cli(["doctor", *get_args(org, URI)[1:], "--json"], env)
    return run.code, {c["name"]: c for c in json.loads(run.stdout)["checks"]}


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("digest-crc", "digest_crc32c was not verified"),
        ("signature-crc", "does not match signature_crc32c"),
        ("name", "names another key version"),
    ],
)
def test_a_damaged_answer_once_is_retried(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn, fault: str, said: str
) -> None:
    """Google: discard the answer and retry. The second, intact answer logs in."""
    gcpkms.fail(fault, call="asymmetricSign", times=1)
    run = run_cli([*get_args(org, URI), "-v"], genv)
    assert run.credential()["AccessToken"] in org.sessions
    assert len(gcpkms.calls(":asymmetricSign")) == 2
    assert said in run.stderr  # the retry says why


@pytest.mark.parametrize("fault", ["digest-crc", "signature-crc", "name"])
def test_a_damaged_answer_every_time_is_exit_5(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn, fault: str
) -> None:
    gcpkms.fail(fault, call="asymmetricSign")
    run_cli(get_args(org, URI), genv).assert_failed(5, "damaged in transit", URI)
    assert len(gcpkms.calls(":asymmetricSign")) > 1
    assert org.token_requests == []


def test_public_key_with_a_bad_pem_crc_is_exit_5(
    genv: dict[str, str], gcpkms: GcpKmsStandIn
) -> None:
    gcpkms.fail("pem-crc", call="publicKey")
    run_cli(["cert", "--key", URI], genv).assert_failed(5, "pem_crc32c", "damaged in transit")


def test_a_signature_by_another_key_is_refused_by_salesforce_and_doctor(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn
) -> None:
    """A signature that does not verify: Salesforce refuses it (exit 4); doctor shows that the
    public key does not verify the key's own signature."""
    gcpkms.fail("other-key", call="asymmetricSign")
    run_cli(get_args(org, URI), genv).assert_failed(4)
    code, checks = doctor(org, genv)
    assert code == 3
    assert checks["public key"]["status"] == "FAILED"
    assert "signs with another key" in checks["public key"]["detail"]


def test_permission_denied_names_use_to_sign_and_the_account(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn
) -> None:
    gcpkms.fail("status", call="asymmetricSign", status=403,
                message="Permission 'cloudkms.cryptoKeyVersions.useToSign' denied")  # fmt: skip
    run = run_cli(get_args(org, URI), genv)
    run.assert_failed(3, "permission denied", "cloudkms.cryptoKeyVersions.useToSign",
                      "@acme-sf.iam.gserviceaccount.com", "iam/gcp-kms-signer-role.yaml")  # fmt: skip
    assert len(gcpkms.calls(":asymmetricSign")) == 1  # not retried


def test_no_view_public_key_fails_cert_and_is_skipped_by_doctor(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn
) -> None:
    """getPublicKey is a set-up permission: cert needs it, get does not (doctor says so)."""
    gcpkms.fail("status", call="publicKey", status=403, message="denied")
    run_cli(["cert", "--key", URI], genv).assert_failed(
        3, "cloudkms.cryptoKeyVersions.viewPublicKey"
    )
    code, checks = doctor(org, genv)
    assert code == 0, checks
    assert checks["public key"]["status"] == "skipped"
    assert "viewPublicKey" in checks["public key"]["fix"]
    assert checks["token exchange"]["status"] == "ok"


def test_unknown_version_is_exit_3(org: SalesforceEmulator, genv: dict[str, str]) -> None:
    other = URI.replace("cryptoKeyVersions/1", "cryptoKeyVersions/7")
    run_cli(get_args(org, other), genv).assert_failed(
        3, "no key version", "cryptoKeyVersions/7", "gcloud kms keys versions list"
    )


def test_disabled_version_is_exit_3_with_the_reason(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn
) -> None:
    gcpkms.fail("status", status=400,
                message=f"{URI[7:]} is not enabled, current state is: DISABLED.")  # fmt: skip
    run_cli(get_args(org, URI), genv).assert_failed(3, "HTTP 400", "DISABLED", "ENABLED")


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retried_then_exit_5_within_the_deadline(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn, status: int
) -> None:
    gcpkms.fail("status", call="asymmetricSign", status=status, message="try later")
    run, took = run_timed([*get_args(org, URI), "--timeout", str(RETRY_TIMEOUT)], genv)
    run.assert_failed(5, f"HTTP {status}", "kept failing until the deadline")
    assert len(gcpkms.calls(":asymmetricSign")) > 1  # the SDK retried
    assert took < RETRY_TIMEOUT + SLACK_SECONDS


@pytest.mark.parametrize("status", [429, 500, 503, 504])
def test_one_throttled_answer_is_retried_by_the_sdk(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn, status: int
) -> None:
    gcpkms.fail("status", call="asymmetricSign", status=status, times=1)
    assert run_cli(get_args(org, URI), genv).credential()["AccessToken"] in org.sessions
    assert len(gcpkms.calls(":asymmetricSign")) == 2


def test_a_hang_ends_within_the_deadline(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn
) -> None:
    gcpkms.fail("hang", call="asymmetricSign")
    run, took = run_timed([*get_args(org, URI), "--timeout", "4"], genv)
    run.assert_failed(5)
    assert took < 4 + SLACK_SECONDS
    assert org.token_requests == []


def test_nothing_listening_is_exit_5(org: SalesforceEmulator, genv: dict[str, str]) -> None:
    import socket

    # Bound but not listening, and kept bound for the whole run: connections are refused, and no
    # other test running at the same time can be given the port and receive them.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        env = {**genv, "SF_CREDPROC_GCPKMS_ENDPOINT": f"http://127.0.0.1:{port}"}
        run, took = run_timed([*get_args(org, URI), "--timeout", str(RETRY_TIMEOUT)], env)
    run.assert_failed(5, "cannot connect", "SF_CREDPROC_GCPKMS_ENDPOINT")
    assert took < RETRY_TIMEOUT + SLACK_SECONDS


def test_unknown_service_account_is_exit_3(
    org: SalesforceEmulator, genv: dict[str, str], tmp_path: Path
) -> None:
    """Credentials Google does not know (a key of another stand-in): 401, exit 3 naming ADC."""
    with GcpKmsStandIn() as elsewhere:
        (tmp_path / "other").mkdir()
        stranger = elsewhere.service_account(tmp_path / "other")
    env = {**genv, "GOOGLE_APPLICATION_CREDENTIALS": str(stranger.path)}
    run_cli(get_args(org, URI), env).assert_failed(
        3, "did not accept the credentials", "gcloud auth application-default login"
    )


def test_no_application_default_credentials_is_exit_2(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn
) -> None:
    """A process of its own: google-auth reads NO_GCE_CHECK once, at import."""
    env = {k: v for k, v in genv.items() if k != "GOOGLE_APPLICATION_CREDENTIALS"}
    run = run_process(get_args(org, URI), env)
    run.assert_failed(2, "Application Default Credentials", "gcloud auth application-default login",
                      "GOOGLE_APPLICATION_CREDENTIALS")  # fmt: skip
    assert gcpkms.seen == []


def test_a_credentials_file_that_is_not_one_is_exit_2(
    org: SalesforceEmulator, genv: dict[str, str], tmp_path: Path
) -> None:
    bogus = tmp_path / "not-credentials.json"
    bogus.write_text('{"type": "nonsense"}')
    env = {**genv, "GOOGLE_APPLICATION_CREDENTIALS": str(bogus)}
    run_cli(get_args(org, URI), env).assert_failed(2, "Application Default Credentials")
