"""The app's certificate (or a CSR for an organisation's CA), signed by the key itself.

Salesforce's JWT bearer flow verifies assertions with the certificate uploaded to the connected app
("Use digital signatures") or to the External Client App that replaces it ("Enable JWT Bearer
Flow"; no new connected apps since Spring '26). The same ``RSAPrivateKey`` that signs assertions
signs the certificate, so for a KMS key the private half never leaves KMS (RFC 5280 certificates,
RFC 2986 CSRs).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..errors import ConfigError, KeySourceError

DEFAULT_SUBJECT = "CN=sf-credproc"
#: Where the certificate goes, for both kinds of app (Salesforce Setup menu paths).
UPLOAD_STEPS = (
    "upload it to the connected app (Setup > App Manager > Edit > Enable OAuth Settings > Use "
    "digital signatures) or to the External Client App (Setup > External Client App Manager > "
    "Edit Settings > OAuth Settings > Flow Enablement > Enable JWT Bearer Flow)"
)
#: The JWT bearer flow logs in only users the app pre-authorizes.
PRE_AUTHORIZE_STEPS = (
    "pre-authorize the user: set Permitted Users to 'Admin approved users are pre-authorized' "
    "(the connected app's Edit Policies; the External Client App's Policies > OAuth Policies) "
    "and add the user's profile or permission set"
)
MAX_DAYS = 3650


@dataclass(frozen=True)
class IssuedDocument:
    """A PEM certificate or CSR and the SHA-256 fingerprint people compare it by."""

    pem: bytes
    fingerprint: str
    not_after: datetime.datetime | None


def parse_subject(text: str) -> x509.Name:
    """An RFC 4514 distinguished name, such as ``CN=salesforce-jwt,O=Acme``."""
    try:
        name = x509.Name.from_rfc4514_string(text)
    except ValueError:
        name = None
    if name is None or not list(name):
        raise ConfigError(
            f"--subject {text!r} is not a distinguished name",
            hint='Write it like "CN=salesforce-jwt,O=Acme Corp"',
        )
    return name


def colon_hex(digest: bytes) -> str:
    return ":".join(f"{byte:02X}" for byte in digest)


def make_certificate(
    key: rsa.RSAPrivateKey, subject: x509.Name, *, days: int, now: float
) -> IssuedDocument:
    """A self-signed certificate for ``key``, valid from a minute ago for ``days`` days."""
    if not 1 <= days <= MAX_DAYS:
        raise ConfigError(f"--days {days} is out of range", hint=f"Choose 1 to {MAX_DAYS} days")
    start = datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc) - datetime.timedelta(
        minutes=1
    )
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    _check_signed_by(key, public, certificate.signature, certificate.tbs_certificate_bytes)
    return IssuedDocument(
        certificate.public_bytes(serialization.Encoding.PEM),
        colon_hex(certificate.fingerprint(hashes.SHA256())),
        certificate.not_valid_after_utc,
    )


def make_csr(key: rsa.RSAPrivateKey, subject: x509.Name) -> IssuedDocument:
    """A certificate signing request for ``key``; the fingerprint is of its public key."""
    request = (
        x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    )
    _check_signed_by(key, key.public_key(), request.signature, request.tbs_certrequest_bytes)
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(public_der)
    return IssuedDocument(
        request.public_bytes(serialization.Encoding.PEM), colon_hex(digest.finalize()), None
    )


def _check_signed_by(
    key: rsa.RSAPrivateKey, public: rsa.RSAPublicKey, signature: bytes, signed: bytes
) -> None:
    """The document's signature checked with the public key it carries. A remote signer reports
    its public key and signs in separate calls (a plugin, a Transit key rotated between them): a
    document whose key did not make its signature would register a certificate that can never
    log in, so it is refused (exit 3) instead of printed."""
    from cryptography.exceptions import InvalidSignature

    try:
        public.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        name = getattr(key, "name", "the key")
        raise KeySourceError(
            f"{name} signed with another key than the public key it reports",
            hint="Check that the signer's public key and signing key are the same key version",
        ) from None


def load_certificate(data: bytes, where: str) -> x509.Certificate:
    """A PEM or DER certificate, or a ``ConfigError`` naming ``where``."""
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as error:  # a certificate is public: its parse error may travel on
        raise ConfigError(
            f"{where} is not an X.509 certificate (PEM or DER)",
            hint="Give the certificate uploaded to the connected app or External Client App",
        ) from error
