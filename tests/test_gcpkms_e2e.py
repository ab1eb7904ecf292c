"""``gcpkms:`` keys end to end: the official SDK against the Cloud KMS stand-in, the emulator
verifying the assertion.

The stand-in (``gcpkms_standin.py``) signs with the connected app's key; the certificate comes from
``sf-credproc cert --key gcpkms:...`` as a user makes it. Credentials are real Application Default
Credentials: a service account's key file in ``GOOGLE_APPLICATION_CREDENTIALS``, which the stand-in
authenticates.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from gcpkms_standin import (
    URI,
    VERSION,
    GcpKmsStandIn,
    crc32c,
    gcp_env,
)
from helpers import CLIENT_ID, USERNAME, get_args, pem_public, run_cli, throwaway_key

from sf_credproc.emulator import SalesforceEmulator


@pytest.fixture
def gcpkms(app_key: rsa.RSAPrivateKey) -> Iterator[GcpKmsStandIn]:
    """A Cloud KMS stand-in whose key version ``VERSION`` is the connected app's key."""
    with GcpKmsStandIn() as standin:
        standin.add_key(app_key)
        yield standin


@pytest.fixture
def genv(env: dict[str, str], gcpkms: GcpKmsStandIn, tmp_path: Path) -> dict[str, str]:
    return gcp_env(env, gcpkms, tmp_path)


def doctor(
    org: SalesforceEmulator, env: dict[str, str], key: str, *extra: str
) -> tuple[int, dict[str, dict[str, Any]]]:
    run = run_cli(["doctor", *get_args(org, key)[1:], "--json", *extra], env)
    checks = {c["name"]: c for c in json.loads(run.stdout)["checks"]}
    return run.code, checks


def test_cert_then_get_logs_in_with_the_key_in_cloud_kms(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn, tmp_path: Path
) -> None:
    """What a user does: the certificate from ``cert`` (getPublicKey) uploaded to the app, then
    ``get`` signs the assertion with asymmetricSign; the emulator verifies it."""
    out = tmp_path / "gcp.crt"
    made = run_cli(["cert", "--key", URI, "--out", str(out)], genv)
    assert made.code == 0, made.stderr
    certificate = x509.load_pem_x509_certificate(out.read_bytes())
    assert pem_public(certificate.public_key()) == gcpkms.state.keys[VERSION].pem().encode()  # type: ignore[arg-type]
    org.register_app(CLIENT_ID, out.read_bytes())
    run = run_cli(get_args(org, URI), genv)
    credential = run.credential()
    assert credential["AccessToken"] in org.sessions
    assert credential["Username"] == USERNAME
    assert [r.status for r in org.token_requests] == [200]
    signs = gcpkms.calls(":asymmetricSign")
    # cert signed its certificate, get its assertion: each with digest_crc32c, authenticated by
    # the service account of GOOGLE_APPLICATION_CREDENTIALS.
    assert len(signs) == 2
    for seen in signs:
        digest = base64.b64decode(seen.body["digest"]["sha256"])
        assert int(seen.body["digestCrc32c"]) == crc32c(digest)
        assert seen.auth in ("token", "self-signed")
    assertion = org.token_requests[0].assertion
    assert assertion is not None
    signing_input = assertion.rsplit(".", 1)[0].encode()
    assert (
        base64.b64decode(signs[1].body["digest"]["sha256"])
        == hashlib.sha256(signing_input).digest()
    )


@pytest.mark.parametrize("bits", [3072, 4096])
def test_larger_rsa_keys(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn, bits: int
) -> None:
    key = throwaway_key(bits)
    gcpkms.add_key(key, f"RSA_SIGN_PKCS1_{bits}_SHA256")
    org.register_app(CLIENT_ID, pem_public(key))
    assert run_cli(get_args(org, URI), genv).credential()["AccessToken"] in org.sessions


def test_doctor_all_ok_names_the_algorithm(
    org: SalesforceEmulator, genv: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "gcp.crt"
    assert run_cli(["cert", "--key", URI, "--out", str(out)], genv).code == 0
    code, checks = doctor(org, genv, URI, "--cert", str(out))
    assert code == 0, checks
    assert checks["key"]["status"] == "ok"
    assert "Google Cloud KMS" in checks["key"]["detail"]
    assert checks["public key"]["status"] == "ok"
    assert "RSA_SIGN_PKCS1_2048_SHA256" in checks["public key"]["detail"]
    assert "verifies the key's signature" in checks["public key"]["detail"]
    assert checks["certificate"]["status"] == "ok"


@pytest.mark.parametrize(
    ("algorithm", "signing"),
    [
        ("EC_SIGN_P256_SHA256", ec.generate_private_key(ec.SECP256R1())),
        ("RSA_SIGN_PSS_2048_SHA256", throwaway_key()),
    ],
)
def test_other_algorithms_are_refused_naming_them(
    org: SalesforceEmulator,
    genv: dict[str, str],
    gcpkms: GcpKmsStandIn,
    algorithm: str,
    signing: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
) -> None:
    """cert and doctor read the algorithm and name it, and what to create instead."""
    gcpkms.add_key(signing, algorithm)
    cert = run_cli(["cert", "--key", URI], genv)
    cert.assert_failed(3, algorithm, "RSA_SIGN_PKCS1_2048_SHA256", "gcloud kms keys create")
    code, checks = doctor(org, genv, URI)
    assert code == 3
    failed = [c for c in checks.values() if c["status"] == "FAILED"]
    assert algorithm in failed[0]["detail"], checks


def test_ec_signature_refused_by_get_before_salesforce(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn
) -> None:
    """At run time only useToSign is needed, so the algorithm is unknown: an ECDSA signature is
    recognised by its length (exit 3, naming the algorithms to use), never sent to Salesforce."""
    gcpkms.add_key(ec.generate_private_key(ec.SECP256R1()), "EC_SIGN_P256_SHA256")
    run = run_cli(get_args(org, URI), genv)
    run.assert_failed(3, "EC_SIGN_P256_SHA256", "RSA_SIGN_PKCS1_2048_SHA256")
    assert org.token_requests == []


def test_a_pss_key_signs_what_salesforce_refuses(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn, app_key: rsa.RSAPrivateKey
) -> None:
    """get cannot know the algorithm with useToSign alone: a PSS signature has an RSA signature's
    length, and Salesforce refuses it (doctor names the algorithm, above)."""
    gcpkms.add_key(app_key, "RSA_SIGN_PSS_2048_SHA256")
    run_cli(get_args(org, URI), genv).assert_failed(4)


def test_a_private_endpoint_over_https(
    org: SalesforceEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey, ca: trustme.CA,
    tmp_path: Path,
) -> None:  # fmt: skip
    """https to the endpoint, trusted through REQUESTS_CA_BUNDLE (the SDK's REST transport runs on
    requests); without that CA the certificate does not verify: exit 2, not retried."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with GcpKmsStandIn(ssl_context=context) as standin:
        standin.add_key(app_key)
        tls_env = gcp_env(env, standin, tmp_path)
        assert tls_env["SF_CREDPROC_GCPKMS_ENDPOINT"].startswith("https://")
        assert run_cli(get_args(org, URI), tls_env).credential()["AccessToken"] in org.sessions
        untrusted = {k: v for k, v in tls_env.items() if k != "REQUESTS_CA_BUNDLE"}
        run_cli(["cert", "--key", URI], untrusted).assert_failed(
            2, "does not verify", "REQUESTS_CA_BUNDLE"
        )
