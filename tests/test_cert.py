"""``sf-credproc cert``: the app's certificate (connected app or External Client App), signed by the
key wherever it lives."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Aws
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from helpers import CLIENT_ID, get_args, pem_private, run_cli, throwaway_key

from sf_credproc.emulator import SalesforceEmulator

needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="openssl is not installed"
)


def public_numbers(key: Any) -> rsa.RSAPublicNumbers:
    numbers: rsa.RSAPublicNumbers = key.public_numbers()
    return numbers


def assert_self_signed_by(certificate: x509.Certificate, public: rsa.RSAPublicKey) -> None:
    assert public_numbers(certificate.public_key()) == public_numbers(public)
    assert certificate.signature_hash_algorithm is not None
    public.verify(
        certificate.signature,
        certificate.tbs_certificate_bytes,
        padding.PKCS1v15(),
        certificate.signature_hash_algorithm,
    )
    assert certificate.issuer == certificate.subject


@needs_openssl
def test_certificate_from_a_kms_key_signs_in_kms(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    kms = aws.client("kms")
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    out = tmp_path / "connected-app.pem"
    args = [
        "cert",
        "--key",
        f"kms:{key_id}",
        "--subject",
        "CN=salesforce-jwt,O=Acme",
        "--days",
        "30",
    ]
    run = run_cli([*args, "--out", str(out)], env)
    assert run.code == 0, run.stderr
    assert run.stdout == ""
    certificate = x509.load_pem_x509_certificate(out.read_bytes())
    kms_public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    assert isinstance(kms_public, rsa.RSAPublicKey)
    assert_self_signed_by(certificate, kms_public)
    assert certificate.subject.rfc4514_string() == "CN=salesforce-jwt,O=Acme"
    days = (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days
    assert days == 30
    fingerprint = ":".join(f"{b:02X}" for b in certificate.fingerprint(hashes.SHA256()))
    assert fingerprint in run.stderr
    text = subprocess.run(
        ["openssl", "x509", "-in", str(out), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "sha256WithRSAEncryption" in text and "Public-Key: (2048 bit)" in text

    # Uploaded to the connected app, the certificate makes get work end to end.
    org.register_app(CLIENT_ID, out.read_bytes())
    assert run_cli(get_args(org, f"kms:{key_id}"), env).credential()["AccessToken"] in org.sessions


@needs_openssl
def test_certificate_from_a_pem_secret(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    key = throwaway_key(3072)
    aws.client("secretsmanager").create_secret(
        Name="sf/jwt", SecretString=pem_private(key).decode()
    )
    run = run_cli(["cert", "--key", "secretsmanager:sf/jwt"], env)
    assert run.code == 0, run.stderr
    certificate = x509.load_pem_x509_certificate(run.stdout.encode())
    assert_self_signed_by(certificate, key.public_key())
    assert certificate.subject.rfc4514_string() == "CN=sf-credproc"
    out = tmp_path / "cert.pem"
    out.write_text(run.stdout)
    subprocess.run(
        ["openssl", "x509", "-in", str(out), "-noout", "-text"], capture_output=True, check=True
    )
    org.register_app(CLIENT_ID, run.stdout.encode())
    args = get_args(org, "secretsmanager:sf/jwt")
    assert run_cli(args, env).credential()["AccessToken"] in org.sessions


@needs_openssl
def test_csr_for_an_organisations_ca(aws: Aws, env: dict[str, str], tmp_path: Path) -> None:
    kms = aws.client("kms")
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    run = run_cli(["cert", "--key", f"kms:{key_id}", "--csr", "--subject", "CN=jwt"], env)
    assert run.code == 0, run.stderr
    request = x509.load_pem_x509_csr(run.stdout.encode())
    assert request.is_signature_valid
    kms_public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    assert public_numbers(request.public_key()) == public_numbers(kms_public)
    path = tmp_path / "request.pem"
    path.write_text(run.stdout)
    verified = subprocess.run(
        ["openssl", "req", "-in", str(path), "-noout", "-verify"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert "certificate signing request" in run.stderr


def test_cert_needs_get_public_key(aws: Aws, env: dict[str, str]) -> None:
    kms = aws.client("kms")
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    aws.run_as(env, actions=["kms:Sign"])
    run = run_cli(["cert", "--key", f"kms:{key_id}"], env)
    aws.set_iam_enforcement(False)
    run.assert_failed(
        3, "AWS denied kms:GetPublicKey", "Grant the caller's IAM role kms:GetPublicKey"
    )


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--subject", "not a dn"], ("--subject", "CN=")),
        (["--days", "0"], ("--days 0", "1 to 3650")),
        (["--days", "many"], ("--days",)),
    ],
)
def test_cert_bad_input(
    args: list[str], needles: tuple[str, ...], env: dict[str, str], key_file: Path
) -> None:
    run_cli(["cert", "--key", f"file:{key_file}", *args], env).assert_failed(2, *needles)


def test_cert_needs_a_key(env: dict[str, str]) -> None:
    run_cli(["cert"], env).assert_failed(2, "--key is required")


@pytest.mark.parametrize("csr", [False, True])
def test_cert_names_the_set_up_steps_of_both_kinds_of_app(
    csr: bool, env: dict[str, str], key_file: Path
) -> None:
    run = run_cli(["cert", "--key", f"file:{key_file}", *(["--csr"] if csr else [])], env)
    assert run.code == 0, run.stderr
    summary, steps = run.stderr.splitlines()
    assert "SHA-256 fingerprint" in summary
    for needle in (
        "connected app (Setup > App Manager",
        "Use digital signatures",
        "External Client App (Setup > External Client App Manager",
        "Enable JWT Bearer Flow",
        "'Admin approved users are pre-authorized'",
    ):
        assert needle in steps
    assert steps.startswith("sf-credproc: next, " + ("have your CA sign it" if csr else "upload"))


def test_certificate_uploaded_to_an_external_client_app(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    """The certificate works for an External Client App too (with a non-legacy audience)."""
    run = run_cli(["cert", "--key", f"file:{key_file}"], env)
    org.register_app(CLIENT_ID, run.stdout.encode(), external_client_app=True)
    credential = run_cli(get_args(org, f"file:{key_file}"), env).credential()
    assert credential["AccessToken"] in org.sessions
