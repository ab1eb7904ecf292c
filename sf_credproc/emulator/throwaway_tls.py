"""A throwaway certificate authority and a server certificate for the emulator on loopback.

``sf-credproc emulator --https`` and ``sf-credproc demo --https`` serve https without the user
making certificates: a CA is generated in memory, signs one server certificate for ``localhost``,
``127.0.0.1`` and ``::1`` (and the listening address, if it is another), and is forgotten. Only the
CA *certificate* is left on disk, for clients to trust; its private key is never written, so
nothing can sign with it once this function returns.

The CA carries a critical name constraint (RFC 5280, section 4.2.1.10) permitting only those names:
even a user who adds it to a trust store (``NODE_EXTRA_CA_CERTS``, ``REQUESTS_CA_BUNDLE``) trusts it
for nothing but this emulator. The certificates are those current TLS clients verify strictly
(Python 3.13's ``VERIFY_X509_STRICT``: key usage, basic constraints critical, key identifiers).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Long enough for any session with the emulator; short enough that a forgotten copy soon expires.
VALIDITY = datetime.timedelta(days=30)
#: A clock skew allowance for the client's clock (the certificate is used at once).
BACKDATE = datetime.timedelta(minutes=5)
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: Listening on every address names no address in particular.
ANY_ADDRESS = ("", "0.0.0.0", "::")  # noqa: S104 - compared with, never bound here

CA_FILE = "ca.pem"


@dataclass(frozen=True)
class ThrowawayTls:
    """The CA certificate's path (what clients trust) and the server's TLS context."""

    ca_path: str
    context: ssl.SSLContext


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _permitted(name: x509.GeneralName) -> x509.GeneralName:
    """The name constraint that permits exactly ``name`` (an address as a one-address network)."""
    if isinstance(name, x509.IPAddress):
        address = name.value
        assert isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address))
        return x509.IPAddress(ipaddress.ip_network(address))
    return name


def server_names(host: str) -> tuple[str, ...]:
    """The names the server certificate carries: loopback, and ``host`` if it is a specific other
    address or name (``0.0.0.0`` and ``::`` name every address, so they add nothing)."""
    extra = () if host in ANY_ADDRESS or host in LOOPBACK_NAMES else (host,)
    return (*LOOPBACK_NAMES, *extra)


def _write(path: str, data: bytes, mode: int) -> None:
    # O_EXCL and the mode from the start: the file never exists with wider permissions.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def make_throwaway_tls(directory: str, host: str = "127.0.0.1") -> ThrowawayTls:
    """A new CA and server certificate for ``host``; the CA certificate written to ``directory``
    (which the caller keeps private and removes). The server's key file exists only while the
    context loads it: ``ssl`` reads a certificate chain from files alone."""
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [_general_name(name) for name in server_names(host)]
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "sf-credproc emulator throwaway CA")]
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.NameConstraints([_permitted(name) for name in names], None), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = os.path.join(directory, CA_FILE)
    _write(ca_path, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    cert_path = os.path.join(directory, "server.pem")
    key_path = os.path.join(directory, "server-key.pem")
    _write(cert_path, server_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(
        key_path,
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
    finally:
        os.unlink(key_path)
        os.unlink(cert_path)
    return ThrowawayTls(ca_path, context)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
