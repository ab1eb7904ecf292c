"""``transit:`` keys end to end: a real OpenBao signs, the emulator verifies the assertion.

Every test makes its own Transit mount and key on the worker's shared server (``openbao.py``). The
connected app's certificate comes from ``sf-credproc cert --key transit:...``, as a user makes it,
or from the key's public key read from Transit directly where the test is about something else.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from helpers import (
    CLIENT_ID,
    USERNAME,
    get_args,
    run_cli,
    run_process,
    run_timed,
    under_load,
)
from openbao import (
    OpenBao,
    TransitKey,
    new_transit_key,
    openbao_server,  # noqa: F401 (the fixture)
    own_openbao_server,  # noqa: F401 (the fixture)
    shipped_policy,
    unique,
    vault_env,
)

from sf_credproc.emulator import SalesforceEmulator


def assert_logged_in(org: SalesforceEmulator, credential: dict[str, Any]) -> None:
    """The credential is one the emulator issued, for the test user, from an assertion it accepted
    (its signature verified against the connected app's certificate)."""
    assert credential["AccessToken"] in org.sessions
    assert credential["Username"] == USERNAME
    assert [r.status for r in org.token_requests] == [200]


def register(org: SalesforceEmulator, pem: bytes) -> None:
    """Upload a certificate or public key to the test connected app (replacing the app key's)."""
    org.register_app(CLIENT_ID, pem)


def rsa_public(pem: bytes) -> rsa.RSAPublicKey:
    public = serialization.load_pem_public_key(pem)
    assert isinstance(public, rsa.RSAPublicKey)
    return public


def doctor(
    org: SalesforceEmulator, env: dict[str, str], key: str, *extra: str
) -> tuple[int, dict[str, dict[str, Any]]]:
    run = run_cli(["doctor", *get_args(org, key)[1:], "--json", *extra], env)
    checks = {c["name"]: c for c in json.loads(run.stdout)["checks"]}
    return run.code, checks


@pytest.fixture
def transit(openbao: OpenBao) -> TransitKey:
    """An rsa-2048 Transit key in a mount of the test's own."""
    return new_transit_key(openbao)


@pytest.fixture
def venv(env: dict[str, str], openbao: OpenBao) -> dict[str, str]:
    """``env`` for the shared server with its root token."""
    return vault_env(env, openbao)


def test_cert_from_transit_registers_and_get_logs_in(
    org: SalesforceEmulator, venv: dict[str, str], transit: TransitKey, tmp_path: Path
) -> None:
    """What a user does: the certificate from ``cert``, uploaded; then ``get`` signs in Transit."""
    out = tmp_path / "transit.crt"
    made = run_cli(["cert", "--key", transit.uri, "--out", str(out)], venv)
    assert made.code == 0, made.stderr
    certificate = x509.load_pem_x509_certificate(out.read_bytes())
    public = rsa_public(transit.public_key_pem())
    in_certificate = certificate.public_key()
    assert isinstance(in_certificate, rsa.RSAPublicKey)
    assert in_certificate.public_numbers() == public.public_numbers()
    assert certificate.signature_hash_algorithm is not None
    public.verify(  # self-signed in Transit, as PKCS#1 v1.5
        certificate.signature,
        certificate.tbs_certificate_bytes,
        padding.PKCS1v15(),
        certificate.signature_hash_algorithm,
    )
    register(org, out.read_bytes())
    run = run_cli(get_args(org, transit.uri), venv)
    assert_logged_in(org, run.credential())
    assert run.stderr == ""


def test_signature_is_pkcs1_v1_5_never_pss(
    org: SalesforceEmulator, venv: dict[str, str], transit: TransitKey
) -> None:
    """Transit's default padding is PSS, which Salesforce refuses: the assertion the emulator
    received verifies as RSASSA-PKCS1-v1_5 with SHA-256, and not as PSS."""
    register(org, transit.public_key_pem())
    assert_logged_in(org, run_cli(get_args(org, transit.uri), venv).credential())
    (request,) = org.token_requests
    signing_input, _, signature_b64 = request.assertion.rpartition(".")
    signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    assert request.header is not None and request.header["alg"] == "RS256"
    public = rsa_public(transit.public_key_pem())
    public.verify(signature, signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
    with pytest.raises(InvalidSignature):
        public.verify(signature, signing_input.encode(), pss, hashes.SHA256())


@pytest.mark.parametrize("where", ["default mount", "nested mount, rsa-4096"])
def test_mounts_and_key_sizes(
    where: str, org: SalesforceEmulator, venv: dict[str, str], openbao: OpenBao
) -> None:
    if where == "default mount":
        key = new_transit_key(openbao, mount="transit")
        uri = f"transit:{key.name}"  # no mount: Transit's default, transit/
    else:
        key = new_transit_key(openbao, "rsa-4096", mount=f"{unique('sec')}/transit")
        uri = key.uri
    register(org, key.public_key_pem())
    assert_logged_in(org, run_cli(get_args(org, uri), venv).credential())


def test_doctor_all_ok_with_the_certificate_from_cert(
    org: SalesforceEmulator, venv: dict[str, str], transit: TransitKey, tmp_path: Path
) -> None:
    out = tmp_path / "transit.crt"
    assert run_cli(["cert", "--key", transit.uri, "--out", str(out)], venv).code == 0
    register(org, out.read_bytes())
    code, checks = doctor(org, venv, transit.uri, "--cert", str(out))
    assert code == 0, checks
    assert {c["status"] for c in checks.values()} == {"ok"}
    assert "public key" in checks
    assert "RSA 2048-bit" in checks["key"]["detail"]
    assert f"{transit.mount}/{transit.name}" in checks["public key"]["detail"]
    assert "matches the key" in checks["certificate"]["detail"]


def test_process_exit_and_streams(
    org: SalesforceEmulator, venv: dict[str, str], transit: TransitKey
) -> None:
    """The installed command, as a real process (the fast path, its own environment)."""
    register(org, transit.public_key_pem())
    run = run_process([*get_args(org, transit.uri), "--format", "token"], venv)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() in org.sessions
    assert run.stderr == ""


def test_non_rsa_key_is_refused(
    org: SalesforceEmulator, venv: dict[str, str], openbao: OpenBao
) -> None:
    """An ECDSA key signs, but its signature is not RS256: exit 3 before any login, for get and
    for cert."""
    key = new_transit_key(openbao, "ecdsa-p256")
    run_cli(get_args(org, key.uri), venv).assert_failed(3, "RSA")
    run_cli(["cert", "--key", key.uri], venv).assert_failed(3, "ecdsa-p256")
    assert org.token_requests == []


@pytest.mark.parametrize("missing", ["key", "mount"])
def test_missing_key_or_mount(
    missing: str, org: SalesforceEmulator, venv: dict[str, str], openbao: OpenBao
) -> None:
    mount = openbao.enable_transit() if missing == "key" else unique("no-such-mount")
    name = unique("absent")
    run = run_cli(get_args(org, f"transit:{mount}/{name}"), venv)
    run.assert_failed(3, mount)
    assert org.token_requests == []


@pytest.mark.parametrize("default_policy", [True, False], ids=["with default", "least privilege"])
def test_denied_by_policy_names_the_path(
    default_policy: bool,
    org: SalesforceEmulator,
    env: dict[str, str],
    openbao: OpenBao,
    transit: TransitKey,
) -> None:
    """A live token whose policy lets it sign with another key only: exit 3 naming the sign path
    and the capability to grant, whether or not the token also holds Vault's ``default`` policy
    (without it, the token may not even look itself up)."""
    other = new_transit_key(openbao, mount=transit.mount)
    policy = openbao.write_policy(
        unique("other-key"),
        shipped_policy(
            "transit-signer.hcl", {"transit/": f"{transit.mount}/", "sf-jwt": other.name}
        ),
    )
    token = openbao.create_token([policy], default_policy=default_policy)
    register(org, transit.public_key_pem())
    run = run_cli(get_args(org, transit.uri), vault_env(env, openbao, token))
    run.assert_failed(3, f"{transit.mount}/sign/{transit.name}", "update")
    assert org.token_requests == []


@pytest.mark.parametrize("how", ["revoked", "expired", "revoked, with default"])
def test_dead_token(
    how: str,
    org: SalesforceEmulator,
    env: dict[str, str],
    openbao: OpenBao,
    transit: TransitKey,
) -> None:
    """A token that was revoked or outlived its TTL (Vault answers 403 for both): exit 3 with a
    hint that it may have expired."""
    register(org, transit.public_key_pem())
    replacements = {"transit/": f"{transit.mount}/", "sf-jwt": transit.name}
    policy = openbao.write_policy(
        unique("signer"), shipped_policy("transit-signer.hcl", replacements)
    )
    if how.startswith("revoked"):
        token = openbao.create_token([policy], default_policy=how.endswith("default"))
        openbao.revoke_token(token)
    else:
        token = openbao.create_token([policy], ttl="1s")
        # Vault's own clock expires the token: wait on the server's answer, not a fixed sleep.
        wait_until_dead(openbao, token)
    run = run_cli(get_args(org, transit.uri), vault_env(env, openbao, token))
    run.assert_failed(3, "expired")
    assert org.token_requests == []


def wait_until_dead(openbao: OpenBao, token: str, limit: float = 30.0) -> None:
    import time

    stop = time.monotonic() + limit
    while openbao.token_is_live(token):
        assert time.monotonic() < stop, "a 1-second token still lives"
        time.sleep(0.2)


def test_rotated_key_unpinned_is_refused_and_pinned_works(
    org: SalesforceEmulator, venv: dict[str, str], transit: TransitKey, tmp_path: Path
) -> None:
    """After a rotation Transit signs with version 2 while the app holds version 1's certificate:
    unpinned, Salesforce refuses the assertion (exit 4) and doctor shows the mismatch; pinned
    with ``#1``, get logs in and doctor is all ok."""
    v1_cert = tmp_path / "v1.crt"
    assert run_cli(["cert", "--key", transit.uri, "--out", str(v1_cert)], venv).code == 0
    register(org, v1_cert.read_bytes())
    assert transit.server.rotate_key(transit.mount, transit.name) == 2

    unpinned = run_cli([*get_args(org, transit.uri), "--no-cache"], venv)
    assert unpinned.code == 4, unpinned.stderr
    assert unpinned.stdout == ""
    code, checks = doctor(org, venv, transit.uri, "--cert", str(v1_cert))
    assert code == 4
    assert checks["certificate"]["status"] == "FAILED"
    assert "does not match the key" in checks["certificate"]["detail"]
    assert checks["token exchange"]["status"] == "FAILED"

    org.token_requests.clear()
    pinned = f"{transit.uri}#1"
    assert_logged_in(org, run_cli([*get_args(org, pinned), "--no-cache"], venv).credential())
    code, checks = doctor(org, venv, pinned, "--cert", str(v1_cert))
    assert code == 0, checks
    assert "pinned" in checks["public key"]["detail"]


def test_pinned_version_that_does_not_exist(
    org: SalesforceEmulator, venv: dict[str, str], transit: TransitKey
) -> None:
    register(org, transit.public_key_pem())
    run_cli(get_args(org, f"{transit.uri}#7"), venv).assert_failed(3)
    run_cli(["cert", "--key", f"{transit.uri}#7"], venv).assert_failed(3)
    assert org.token_requests == []


def test_sealed_server_is_transient_within_the_deadline(
    org: SalesforceEmulator, env: dict[str, str], own_openbao: OpenBao
) -> None:
    """Sealing is global: this test has a server of its own."""
    key = new_transit_key(own_openbao)
    register(org, key.public_key_pem())
    own_openbao.seal()
    run, elapsed = run_timed(
        [*get_args(org, key.uri), "--timeout", "3"], vault_env(env, own_openbao)
    )
    run.assert_failed(5, "sealed")
    assert elapsed < 3 + under_load(5)
    assert org.token_requests == []


@pytest.fixture(params=["nothing listening", "never answers"])
def dead_vault(request: pytest.FixtureRequest) -> Iterator[str]:
    """A loopback address where connections are refused (a port held bound but not listening,
    so that no other process can take it meanwhile) or accepted and never answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        if request.param == "never answers":
            holder.listen(16)
        yield f"http://127.0.0.1:{holder.getsockname()[1]}"


def test_unreachable_server_is_transient_within_the_deadline(
    org: SalesforceEmulator, venv: dict[str, str], transit: TransitKey, dead_vault: str
) -> None:
    register(org, transit.public_key_pem())
    venv["VAULT_ADDR"] = dead_vault
    run, elapsed = run_timed([*get_args(org, transit.uri), "--timeout", "3"], venv)
    run.assert_failed(5)
    assert elapsed < 3 + under_load(5)
    assert org.token_requests == []
