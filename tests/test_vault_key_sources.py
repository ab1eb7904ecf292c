"""The ``transit:`` and ``vault:`` key sources against a real OpenBao: Transit signs PKCS#1 v1.5
(never PSS), pinned versions, the public key and its checks, Vault's refusals; a PEM from KV v2
with its field and passphrase, and every way a KV secret can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import SECRETS, pem_private, throwaway_key
from openbao import OpenBao, openbao_server, own_openbao_server, unique
from vault_peers import assert_refused, key_context, sign, source_for, transit_key, verifies

from sf_credproc.errors import CredProcError, ExitStatus

__all__ = ["openbao_server", "own_openbao_server"]  # fixtures, asked for by their names


@pytest.fixture
def environ(openbao: OpenBao, tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path), "VAULT_ADDR": openbao.addr, "VAULT_TOKEN": openbao.root_token}


@pytest.fixture
def mount(openbao: OpenBao) -> str:
    return openbao.enable_transit()


# -- Transit ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "bits"), [("rsa-2048", 2048), ("rsa-4096", 4096)])
def test_transit_signs_pkcs1_v15(
    openbao: OpenBao, mount: str, environ: dict[str, str], kind: str, bits: int
) -> None:
    openbao.create_key(mount, "sf-jwt", kind)
    key = transit_key(f"transit:{mount}/sf-jwt", key_context(environ))
    signature = sign(key, b"header.payload")
    # PKCS#1 v1.5 is deterministic and verifies as such; Transit's default, PSS, would not.
    assert verifies(openbao.public_key_pem(mount, "sf-jwt"), signature, b"header.payload")
    assert signature == openbao.sign(mount, "sf-jwt", b"header.payload")
    assert key.key_size == bits
    assert f"{mount}/sf-jwt" in key.describe()


def test_the_default_and_a_nested_mount(
    openbao: OpenBao, environ: dict[str, str], tmp_path: Path
) -> None:
    nested = openbao.enable_transit(f"{unique('sec')}/transit")
    openbao.create_key(nested, "sf-jwt")
    assert verifies(
        openbao.public_key_pem(nested, "sf-jwt"),
        sign(transit_key(f"transit:{nested}/sf-jwt", key_context(environ))),
    )
    source = source_for("transit:sf-jwt", key_context(environ))
    assert getattr(source, "mount", None) == "transit"


def test_the_public_key_and_describe(openbao: OpenBao, mount: str, environ: dict[str, str]) -> None:
    openbao.create_key(mount, "sf-jwt")
    key = transit_key(f"transit:{mount}/sf-jwt", key_context(environ))
    assert f"{mount}/sf-jwt, the latest version" in key.describe()
    public = key.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert verifies(openbao.public_key_pem(mount, "sf-jwt"), sign(key))
    assert f"({mount}/sf-jwt, rsa-2048, latest version 1)" in key.describe()
    assert openbao.addr in key.describe()


def test_a_pinned_version_after_a_rotation(
    openbao: OpenBao, mount: str, environ: dict[str, str]
) -> None:
    openbao.create_key(mount, "sf-jwt")
    assert openbao.rotate_key(mount, "sf-jwt") == 2
    first, second = (openbao.public_key_pem(mount, "sf-jwt", v) for v in (1, 2))
    pinned = transit_key(f"transit:{mount}/sf-jwt#1", key_context(environ))
    signature = sign(pinned)
    assert verifies(first, signature)
    assert not verifies(second, signature)
    pinned.public_key()  # the pinned version's: a signature is checked against its size too
    assert verifies(first, sign(pinned))
    assert "rsa-2048, version 1 pinned; latest 2" in pinned.describe()
    latest = transit_key(f"transit:{mount}/sf-jwt", key_context(environ))
    assert verifies(second, sign(latest))
    assert "signing with version 2, the latest" in latest.describe()


def test_a_pinned_version_that_does_not_exist(
    openbao: OpenBao, mount: str, environ: dict[str, str]
) -> None:
    openbao.create_key(mount, "sf-jwt")
    key = transit_key(f"transit:{mount}/sf-jwt#9", key_context(environ))
    with pytest.raises(CredProcError) as caught:
        sign(key)
    assert_refused(caught.value, ExitStatus.KEY_SOURCE, "cannot sign with version 9")
    with pytest.raises(CredProcError) as caught:
        key.public_key()
    assert_refused(caught.value, ExitStatus.KEY_SOURCE, "no public key for version 9")


def test_a_trimmed_version(openbao: OpenBao, mount: str, environ: dict[str, str]) -> None:
    openbao.create_key(mount, "sf-jwt")
    openbao.rotate_key(mount, "sf-jwt")
    openbao.api(
        "POST",
        f"{mount}/keys/sf-jwt/config",
        {"min_encryption_version": 2, "min_decryption_version": 2},
    )
    openbao.api("POST", f"{mount}/keys/sf-jwt/trim", {"min_available_version": 2})
    key = transit_key(f"transit:{mount}/sf-jwt#1", key_context(environ))
    with pytest.raises(CredProcError) as caught:
        sign(key)
    assert_refused(caught.value, ExitStatus.KEY_SOURCE, "version 1", "min_encryption_version")
    with pytest.raises(CredProcError) as caught:
        key.public_key()
    assert_refused(caught.value, ExitStatus.KEY_SOURCE, "trimmed")


@pytest.mark.parametrize(
    ("kind", "signing", "reading"),
    [
        ("ecdsa-p256", "not an RSA signature", "of type ecdsa-p256"),
        ("ed25519", "not an RSA signature", "of type ed25519"),
        ("aes256-gcm96", "is not an RSA key", "of type aes256-gcm96"),
    ],
)
def test_a_key_that_is_not_rsa(
    openbao: OpenBao, mount: str, environ: dict[str, str], kind: str, signing: str, reading: str
) -> None:
    openbao.create_key(mount, "other", kind)
    key = transit_key(f"transit:{mount}/other", key_context(environ))
    with pytest.raises(CredProcError) as caught:
        sign(key)
    assert_refused(caught.value, ExitStatus.KEY_SOURCE, signing, "rsa-2048")
    with pytest.raises(CredProcError) as caught:
        key.public_key()
    assert_refused(caught.value, ExitStatus.KEY_SOURCE, reading)


def test_a_missing_key_and_a_missing_mount(
    openbao: OpenBao, mount: str, environ: dict[str, str]
) -> None:
    with pytest.raises(CredProcError) as caught:
        sign(transit_key(f"transit:{mount}/nothing", key_context(environ)))
    assert_refused(caught.value, ExitStatus.KEY_SOURCE, f"no key nothing in the mount {mount}")
    with pytest.raises(CredProcError) as caught:
        transit_key(f"transit:{mount}/nothing", key_context(environ)).public_key()
    assert_refused(caught.value, ExitStatus.KEY_SOURCE, "no key nothing")
    with pytest.raises(CredProcError) as caught:
        sign(transit_key("transit:no-such-mount/k", key_context(environ)))
    assert_refused(caught.value, ExitStatus.KEY_SOURCE, "no mount no-such-mount")


def test_denied_by_policy_names_the_path_and_capability(
    openbao: OpenBao, mount: str, environ: dict[str, str]
) -> None:
    openbao.create_key(mount, "sf-jwt")
    policy = openbao.write_policy(unique("other"), 'path "secret/*" { capabilities = ["read"] }')
    # With the default policy the token can look itself up: a denial is told from an expiry.
    token = openbao.api(
        "POST", "auth/token/create", {"policies": [policy, "default"], "ttl": "5m"}
    )["auth"]["client_token"]
    SECRETS.add(token)
    with pytest.raises(CredProcError) as caught:
        sign(transit_key(f"transit:{mount}/sf-jwt", key_context({**environ, "VAULT_TOKEN": token})))
    assert_refused(
        caught.value,
        ExitStatus.KEY_SOURCE,
        f"permission denied on POST /v1/{mount}/sign/sf-jwt/sha2-256",
        f"Grant 'update' on {mount}/sign/sf-jwt/sha2-256",
        policy,
    )
    assert "expired" not in caught.value.message


def test_a_revoked_token_may_have_expired(
    openbao: OpenBao, mount: str, environ: dict[str, str]
) -> None:
    openbao.create_key(mount, "sf-jwt")
    token = openbao.create_token(["default"])
    openbao.revoke_token(token)
    with pytest.raises(CredProcError) as caught:
        sign(transit_key(f"transit:{mount}/sf-jwt", key_context({**environ, "VAULT_TOKEN": token})))
    assert_refused(caught.value, ExitStatus.KEY_SOURCE, "expired or was revoked", "new token")


def test_a_sealed_vault_is_transient(own_openbao: OpenBao, tmp_path: Path) -> None:
    mount = own_openbao.enable_transit()
    own_openbao.create_key(mount, "sf-jwt")
    own_openbao.seal()
    environ = {
        "HOME": str(tmp_path),
        "VAULT_ADDR": own_openbao.addr,
        "VAULT_TOKEN": own_openbao.root_token,
    }
    with pytest.raises(CredProcError) as caught:
        sign(transit_key(f"transit:{mount}/sf-jwt", key_context(environ)))
    assert_refused(caught.value, ExitStatus.TRANSIENT, "is sealed")
    assert caught.value.retryable


# -- KV version 2 -----------------------------------------------------------------------------


def test_kv_default_field(openbao: OpenBao, environ: dict[str, str]) -> None:
    key = throwaway_key()
    mount = openbao.enable_kv()
    openbao.write_secret(mount, "salesforce/jwt", {"private_key": pem_private(key).decode()})
    loaded = source_for(f"vault:{mount}/salesforce/jwt", key_context(environ)).load_key()
    assert loaded.private_numbers() == key.private_numbers()


def test_kv_named_field_with_a_passphrase(openbao: OpenBao, environ: dict[str, str]) -> None:
    key = throwaway_key()
    passphrase = b"kv-passphrase-" + unique("p").encode()
    mount = openbao.enable_kv()
    secret = {"pem": pem_private(key, passphrase).decode(), "passphrase": passphrase.decode()}
    openbao.write_secret(mount, "sf", secret)
    loaded = source_for(f"vault:{mount}/sf#pem", key_context(environ)).load_key()
    assert loaded.private_numbers() == key.private_numbers()
    openbao.write_secret(mount, "sf", {**secret, "passphrase": "wrong"})
    with pytest.raises(CredProcError) as caught:
        source_for(f"vault:{mount}/sf#pem", key_context(environ)).load_key()
    assert_refused(caught.value, ExitStatus.KEY_SOURCE, "passphrase", "Vault secret")


def kv_failure(uri: str, environ: dict[str, str]) -> CredProcError:
    with pytest.raises(CredProcError) as caught:
        source_for(uri, key_context(environ)).load_key()
    return caught.value


def test_kv_missing_field_and_secret(openbao: OpenBao, environ: dict[str, str]) -> None:
    mount = openbao.enable_kv()
    openbao.write_secret(mount, "sf", {"other": "x"})
    error = kv_failure(f"vault:{mount}/sf", environ)
    assert_refused(error, ExitStatus.KEY_SOURCE, "no string field 'private_key'", "vault kv put")
    error = kv_failure(f"vault:{mount}/nothing", environ)
    assert_refused(error, ExitStatus.KEY_SOURCE, "no such secret", f"{mount}/data/nothing")
    openbao.write_secret(mount, "junk", {"private_key": "not a key"})
    error = kv_failure(f"vault:{mount}/junk", environ)
    assert_refused(error, ExitStatus.KEY_SOURCE, "does not hold a readable private key")


def test_kv_deleted_version(openbao: OpenBao, environ: dict[str, str]) -> None:
    mount = openbao.enable_kv()
    openbao.write_secret(mount, "sf", {"private_key": "x"})
    openbao.api("DELETE", f"{mount}/data/sf")
    error = kv_failure(f"vault:{mount}/sf", environ)
    assert_refused(error, ExitStatus.KEY_SOURCE, "current version is deleted", "undelete")


@pytest.mark.parametrize("written", [False, True])
def test_kv_version_1(openbao: OpenBao, environ: dict[str, str], written: bool) -> None:
    mount = openbao.enable_kv(version=1)
    openbao.write_secret(mount, "sf", {"private_key": "x"}, version=1)
    if written:  # a KV v1 secret that happens to live at data/PATH
        openbao.write_secret(mount, "data/sf", {"private_key": "x"}, version=1)
    error = kv_failure(f"vault:{mount}/sf", environ)
    assert_refused(error, ExitStatus.KEY_SOURCE, "KV version", "enable-versioning")


def test_kv_denied_names_the_data_path(openbao: OpenBao, environ: dict[str, str]) -> None:
    mount = openbao.enable_kv()
    openbao.write_secret(mount, "sf", {"private_key": "x"})
    token = openbao.create_token(
        [openbao.write_policy(unique("none"), 'path "x/*" { capabilities = ["read"] }')]
    )
    error = kv_failure(f"vault:{mount}/sf", {**environ, "VAULT_TOKEN": token})
    assert_refused(error, ExitStatus.KEY_SOURCE, f"GET /v1/{mount}/data/sf", "'read'")
