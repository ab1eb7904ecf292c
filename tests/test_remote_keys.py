"""What every remote signer shares (``keys/remote_key.py``), and the URIs of the new key sources.

A remote key is tested here through a signer made of local keys, passed in at the class's own seam
(its two abstract calls), so that each rule of the base class is exercised on its own: RS256 only,
the 2048-bit floor learned from the signature, a public key that is not RSA, no export, and a
certificate refused when the public key a signer reports did not make its signature.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from helpers import base_env, get_args, run_cli

from sf_credproc import fast_path
from sf_credproc.cli.exec_command import scrubbed_environment
from sf_credproc.config.key_uri import KeyUri, parse_key_uri, shown
from sf_credproc.config.options import SECRET_ENVIRONMENT
from sf_credproc.config.pkcs11_uri import parse_pkcs11_uri
from sf_credproc.config.settings import resolve_keywords
from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.errors import ConfigError, ExitStatus, InternalError, KeySourceError
from sf_credproc.keys.certificates import make_certificate, make_csr, parse_subject
from sf_credproc.keys.remote_key import RemoteRsaPrivateKey

PIN = "pin-never-echoed-7731"


class LocalSigner(RemoteRsaPrivateKey):
    """A remote key whose "signer" is two local keys: one signs, the other is reported."""

    def __init__(
        self,
        signing: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
        reported: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None = None,
    ) -> None:
        super().__init__("test:signer", "the test signer")
        self._signing = signing
        self._reported = reported or signing.public_key()

    def _sign_rs256(self, data: bytes) -> bytes:
        if isinstance(self._signing, ec.EllipticCurvePrivateKey):
            return self._signing.sign(data, ec.ECDSA(hashes.SHA256()))
        return self._signing.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def _fetch_public_key(self) -> rsa.RSAPublicKey:
        return self._reported  # type: ignore[return-value]  # an EC one, on purpose, below


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def test_a_remote_key_signs_rs256_and_learns_its_size_from_the_signature() -> None:
    local = rsa_key(3072)
    key = LocalSigner(local)
    assert key.key_size == 2048  # the floor, before the signer has said more
    signature = key.sign(b"message", padding.PKCS1v15(), hashes.SHA256())
    local.public_key().verify(signature, b"message", padding.PKCS1v15(), hashes.SHA256())
    assert key.key_size == 3072
    assert repr(key) == "LocalSigner('test:signer')"


@pytest.mark.parametrize(
    "signing",
    [ec.generate_private_key(ec.SECP256R1()), rsa_key(1024)],
    ids=["ecdsa", "rsa-1024"],
)
def test_a_signature_that_is_not_rsa_of_2048_bits_is_exit_3(
    signing: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
) -> None:
    with pytest.raises(KeySourceError) as refused:
        LocalSigner(signing).sign(b"message", padding.PKCS1v15(), hashes.SHA256())
    assert refused.value.exit_status == ExitStatus.KEY_SOURCE
    assert "not an RSA signature of 2048 bits or more" in refused.value.message
    assert refused.value.hint and "2048, 3072 or 4096" in refused.value.hint


def test_a_signature_of_another_size_than_the_reported_key_is_refused() -> None:
    key = LocalSigner(rsa_key(3072), reported=rsa_key(2048).public_key())
    key.public_key()
    with pytest.raises(KeySourceError, match="3072-bit signature"):
        key.sign(b"message", padding.PKCS1v15(), hashes.SHA256())


def test_a_public_key_that_is_not_rsa_or_too_small_is_exit_3() -> None:
    not_rsa = LocalSigner(rsa_key(), reported=ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(KeySourceError, match="is not an RSA key"):
        not_rsa.public_key()
    small = LocalSigner(rsa_key(), reported=rsa_key(1024).public_key())
    with pytest.raises(KeySourceError, match="1024-bit RSA key"):
        small.public_key()


def test_only_rs256_and_never_an_export() -> None:
    key = LocalSigner(rsa_key())
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    with pytest.raises(InternalError, match=r"PKCS#1 v1\.5 and SHA-256"):
        key.sign(b"message", pss, hashes.SHA256())
    with pytest.raises(KeySourceError, match="never leaves the test signer"):
        key.private_numbers()
    with pytest.raises(KeySourceError, match="never leaves the test signer"):
        key.decrypt(b"x", padding.PKCS1v15())


def test_a_certificate_whose_key_did_not_make_its_signature_is_refused() -> None:
    """A signer that reports one public key and signs with another (a plugin's bug, a Transit key
    rotated between the two calls) would register a certificate that can never log in."""
    honest = LocalSigner(rsa_key())
    document = make_certificate(honest, parse_subject("CN=ok"), days=1, now=1.8e9)
    certificate = x509.load_pem_x509_certificate(document.pem)
    certified = certificate.public_key()
    assert isinstance(certified, rsa.RSAPublicKey)
    assert certified.public_numbers() == honest.public_key().public_numbers()
    lying = LocalSigner(rsa_key(), reported=rsa_key().public_key())
    with pytest.raises(KeySourceError, match="another key than the public key it reports"):
        make_certificate(lying, parse_subject("CN=x"), days=1, now=1.8e9)
    with pytest.raises(KeySourceError, match="another key than the public key it reports"):
        make_csr(LocalSigner(rsa_key(), reported=rsa_key().public_key()), parse_subject("CN=x"))


# --- The URIs of the new sources -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("transit:sf-jwt", KeyUri("transit", "transit/sf-jwt")),
        ("transit:sec/transit/sf-jwt#3", KeyUri("transit", "sec/transit/sf-jwt", "3")),
        ("vault:secret/salesforce/jwt", KeyUri("vault", "secret/salesforce/jwt")),
        ("vault:kv/sf#pem", KeyUri("vault", "kv/sf", "pem")),
        ("pkcs11:token=hsm;object=sf-jwt", KeyUri("pkcs11", "token=hsm;object=sf-jwt")),
        ("acme-signer:key/1", KeyUri("acme-signer", "key/1")),
    ],
)
def test_the_new_schemes_parse(text: str, expected: KeyUri) -> None:
    assert parse_key_uri(text, "--key") == expected
    assert parse_key_uri(text, "--key").is_plugin == (expected.scheme == "acme-signer")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("transit:a/../k", "not a valid Transit mount and key name"),
        ("transit:k#0", "#VERSION that is not a positive number"),
        ("transit:k?x=1", "not a valid Transit mount and key name"),
        ("vault:secret", "not a KV mount followed by a secret's path"),
        ("vault:secret/sf#", "empty #field"),
        ("gcpkms:projects/p", "is not a Cloud KMS key version name"),
        ("azurekv:https://v.example.net/keys/k", "not on a Key Vault or Managed HSM host"),
        ("Upper:x", "no known key source scheme"),
        ("a" * 33 + ":x", "no known key source scheme"),
        ("pkcs11:token=t", "names no object"),
        ("pkcs11:object=o;object=p", "repeats 'object'"),
        ("pkcs11:object=o;colour=red", "unknown path attribute 'colour'"),
        ("pkcs11:object=o;type=public", "signing needs the private key"),
        ("pkcs11:object=o;slot-id=x", "slot-id that is not a number"),
    ],
)
def test_bad_uris_of_the_new_schemes_are_exit_2(text: str, why: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_key_uri(text, "--key")
    assert why in refused.value.message
    assert refused.value.exit_status == ExitStatus.USAGE


def test_rfc_7512_attributes_are_percent_decoded_and_vendor_ones_ignored() -> None:
    uri = parse_pkcs11_uri(
        "pkcs11:token=My%20HSM;id=%01%A2;slot-id=7;x-vendor=1?module-path=/usr/lib/m.so"
        "&pin-source=file:/run/pin",
        "--key",
    )
    assert uri.token == "My HSM"
    assert uri.object_id == b"\x01\xa2"
    assert uri.slot_id == 7
    assert uri.module_path == "/usr/lib/m.so"
    assert uri.pin_source == "file:/run/pin"


@pytest.mark.parametrize(
    "text",
    [
        f"pkcs11:token=t;object=o?pin-value={PIN}",
        f"pkcs11:token=t;object=o?module-path=/m.so&pin-value={PIN}",
        f"pkcs11:token=t;object=o?PIN-VALUE={PIN}",
    ],
)
def test_a_pin_in_the_uri_is_refused_and_never_repeated(text: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_key_uri(text, "--key")
    assert "pin-value" in refused.value.message
    assert PIN not in str(refused.value)
    assert refused.value.hint and "SF_CREDPROC_PKCS11_PIN" in refused.value.hint
    assert PIN not in shown(text)


def test_a_plugin_uri_is_shown_and_a_pasted_secret_is_not() -> None:
    assert shown("acme-signer:key/1") == "'acme-signer:key/1'"
    assert "hunter2" not in shown("hunter2 is my passphrase")


def test_a_pin_in_a_profile_is_refused_too(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    config = tmp_path / "config" / "sf-credproc" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f'[profile.default]\nkey = "pkcs11:token=t;object=o?pin-value={PIN}"\n'
        'client_id = "c"\nusername = "u"\n'
    )
    with pytest.raises(ConfigError) as refused:
        resolve_keywords(environ=env)
    assert "pin-value" in str(refused.value) and PIN not in str(refused.value)


# --- Secrets the option spec marks, and the fast path's index ----------------------------------


def test_exec_removes_every_secret_the_option_spec_marks() -> None:
    assert set(SECRET_ENVIRONMENT) == {
        "SF_CREDPROC_KEY_PASSPHRASE",
        "SF_CREDPROC_VAULT_SECRET_ID",
        "SF_CREDPROC_PKCS11_PIN",
        "VAULT_TOKEN",
    }
    environ = {name: "secret" for name in SECRET_ENVIRONMENT} | {"VAULT_ADDR": "https://v:8200"}
    settings = resolve_keywords(environ={}, client_id="c", username="u", key="transit:k")
    assert scrubbed_environment(environ, settings) == {"VAULT_ADDR": "https://v:8200"}


def test_the_fast_paths_sha256_is_sha256() -> None:
    """The fast path hashes with CPython's built-in module (hashlib would load OpenSSL)."""
    data = b"\0".join([b"sf-credproc", b"get", "--username=\u00e9".encode()])
    assert fast_path.sha256(data).digest() == hashlib.sha256(data).digest()


def test_the_fast_path_index_holds_a_digest_of_the_inputs_never_the_inputs(
    org: SalesforceEmulator, env: dict[str, str], key: str
) -> None:
    marker = "marker-7f3a9c.example.com"
    env["SF_CREDPROC_TRUSTED_HOSTS"] = "env-marker-51d2.example.com"
    argv = get_args(org, key, "--trusted-host", marker)
    first = run_cli(argv, env)
    assert first.code == 0, first.stderr
    digest = fast_path.invocation_key(argv, env)
    assert len(digest) == 32
    index = Path(fast_path.index_path(digest, env))
    data = index.read_bytes()
    assert digest in data
    for value in (marker, "env-marker-51d2", key):  # (the output itself names the org)
        assert value.encode() not in data, value
    served = fast_path.cached_output(argv, env, time.time())
    assert served is not None and json.loads(served) == first.credential()
