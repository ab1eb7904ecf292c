"""``KmsRsaPrivateKey`` is an ``RSAPrivateKey``: PyJWT and CertificateBuilder sign with it via KMS."""

from __future__ import annotations

import datetime
import time

import jwt
import pytest
from conftest import Aws
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import NameOID

from sf_credproc.credential import Credential
from sf_credproc.errors import InternalError, KeySourceError
from sf_credproc.keys.kms_key import KmsRsaPrivateKey
from sf_credproc.oauth.assertion import build_claims, sign_assertion
from sf_credproc.oauth.exchange import TokenResponse


def kms_key(aws: Aws, spec: str = "RSA_2048") -> KmsRsaPrivateKey:
    kms = aws.client("kms")
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec=spec)["KeyMetadata"]["KeyId"]
    return KmsRsaPrivateKey(key_id, lambda: kms)


def test_assertion_signed_in_kms_verifies_with_the_kms_public_key(aws: Aws) -> None:
    key = kms_key(aws, "RSA_3072")
    assert key.key_size == 2048  # a lower bound until KMS has said more
    claims = build_claims(
        client_id="c", username="u", audience="https://login.salesforce.com", now=time.time()
    )
    token = sign_assertion(key, claims)
    assert key.key_size == 3072  # learned from the signature's length
    decoded = jwt.decode(
        token,
        key.public_key(),
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
        options={"verify_exp": False},
    )
    assert decoded == claims.as_dict()


def test_certificate_builder_signs_through_kms(aws: Aws) -> None:
    """The same key object makes the connected app's self-signed certificate."""
    key = kms_key(aws)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sf-credproc")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    assert certificate.tbs_certificate_bytes
    key.public_key().verify(
        certificate.signature,
        certificate.tbs_certificate_bytes,
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_private_half_never_leaves(aws: Aws) -> None:
    key = kms_key(aws)
    with pytest.raises(KeySourceError, match="never leaves KMS"):
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    with pytest.raises(KeySourceError, match="never leaves KMS"):
        key.private_numbers()
    with pytest.raises(KeySourceError, match="never leaves KMS"):
        key.decrypt(b"x", padding.PKCS1v15())
    assert repr(key) == f"KmsRsaPrivateKey(key_id={key.key_id!r})"


def test_only_rs256_and_short_messages(aws: Aws) -> None:
    key = kms_key(aws)
    with pytest.raises(InternalError, match=r"PKCS#1 v1\.5 and SHA-256"):
        key.sign(b"x", padding.PKCS1v15(), hashes.SHA384())
    with pytest.raises(KeySourceError, match="4096"):
        key.sign(b"x" * 4097, padding.PKCS1v15(), hashes.SHA256())


def test_token_never_in_repr() -> None:
    response = TokenResponse(
        access_token="00Dsecret!token-value",
        instance_url="https://acme.my.salesforce.com",
        id_url="https://login.salesforce.com/id/00D000000000001AAA/005000000000001AAA",
        token_type="Bearer",
        scope="api",
    )
    credential = Credential.from_token_response(
        response, username="u", sent_at=1.8e9, session_ttl_seconds=900
    )
    for value in (response, credential):
        assert "token-value" not in repr(value)
    assert credential.org_id == "00D000000000001AAA"
    assert credential.expiration - credential.issued_at == 900
