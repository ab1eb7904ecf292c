"""``pkcs11:`` keys end to end: a key generated inside a SoftHSM2 token signs assertions,
certificates and ``doctor``'s probe; the emulator checks the signatures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from helpers import CLIENT_ID, SECRETS, get_args, run_cli, run_process
from softhsm import (  # noqa: F401 (fixtures)
    EC_LABEL,
    RSA_LABEL,
    TOKEN,
    TWIN_LABEL,
    SoftHsm,
    softhsm,
    softhsm_env,
)

from sf_credproc.clock import SystemClock
from sf_credproc.config.settings import resolve_keywords
from sf_credproc.deadline import Deadline
from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.errors import KeySourceError
from sf_credproc.keys.pkcs11_key import HASH_HERE, HASH_ON_TOKEN
from sf_credproc.keys.pkcs11_source import Pkcs11KeySource
from sf_credproc.keys.source import KeySourceContext

PROBE = b"header.claims"


def with_token(env: dict[str, str], softhsm: SoftHsm) -> dict[str, str]:  # noqa: F811
    """The module and PIN as settings: the way most set-ups give them."""
    env.update(SF_CREDPROC_PKCS11_MODULE=softhsm.module, SF_CREDPROC_PKCS11_PIN=softhsm.pin)
    return env


def make_certificate(env: dict[str, str], key: str, out: Path) -> x509.Certificate:
    run = run_cli(["cert", "--key", key, "--out", str(out)], env)
    assert run.code == 0, run.stderr
    return x509.load_pem_x509_certificate(out.read_bytes())


def test_cert_from_the_token_registers_and_logs_in(
    org: SalesforceEmulator,
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    env = with_token(softhsm_env, softhsm)
    certificate = make_certificate(env, softhsm.uri(), tmp_path / "cert.pem")
    # The token's key made it: its public key, and a signature that key verifies.
    assert certificate.public_key().public_numbers() == softhsm.public_key.public_numbers()  # type: ignore[union-attr]
    softhsm.public_key.verify(
        certificate.signature,
        certificate.tbs_certificate_bytes,
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    org.register_app(CLIENT_ID, certificate.public_bytes(serialization.Encoding.PEM))
    credential = run_cli(get_args(org, softhsm.uri()), env).credential()
    assert credential["AccessToken"] in org.sessions
    # A fresh process loads the module itself; the same key logs in with --no-cache again.
    again = run_process(get_args(org, softhsm.uri(), "--no-cache"), env)
    assert again.credential()["AccessToken"] in org.sessions
    assert len(org.token_requests) == 2


def test_many_logins_in_one_process_reuse_the_module(
    org: SalesforceEmulator,
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
) -> None:
    org.register_app(CLIENT_ID, softhsm.public_pem())
    env = with_token(softhsm_env, softhsm)
    for _ in range(3):  # each opens and closes its own session; the module stays initialised
        assert run_cli(get_args(org, softhsm.uri(), "--no-cache"), env).code == 0
    # A wrong PIN in between leaves nothing behind that breaks the next login.
    bad = {**env, "SF_CREDPROC_PKCS11_PIN": "0000wrong"}
    SECRETS.add("0000wrong")
    run_cli(get_args(org, softhsm.uri(), "--no-cache"), bad).assert_failed(3, "PIN was refused")
    assert run_cli(get_args(org, softhsm.uri(), "--no-cache"), env).code == 0
    assert len(org.token_requests) == 4


def test_doctor_checks_the_token_key(
    org: SalesforceEmulator,
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    env = with_token(softhsm_env, softhsm)
    certificate = tmp_path / "cert.pem"
    make_certificate(env, softhsm.uri(), certificate)
    org.register_app(CLIENT_ID, certificate.read_bytes())
    args = ["doctor", *get_args(org, softhsm.uri())[1:], "--cert", str(certificate), "--json"]
    run = run_cli(args, env)
    assert run.code == 0, run.stdout + run.stderr
    report = {c["name"]: c for c in json.loads(run.stdout)["checks"]}
    assert {c["status"] for c in report.values()} == {"ok"}
    assert "RSA 2048-bit" in report["key"]["detail"]
    assert f"PKCS#11 token {TOKEN!r}" in report["key"]["detail"]
    assert HASH_ON_TOKEN in report["public key"]["detail"]
    assert "matches the key" in report["certificate"]["detail"]


def source_for(softhsm: SoftHsm, uri: str, *, hash_on_token: bool = True) -> Pkcs11KeySource:  # noqa: F811
    environ = {"SF_CREDPROC_PKCS11_PIN": softhsm.pin}
    settings = resolve_keywords(
        environ=environ,
        client_id=CLIENT_ID,
        username="someone@acme.example",
        login_url="https://login.salesforce.com",
        key=uri,
        pkcs11_module=softhsm.module,
    )
    assert settings.key is not None
    clock = SystemClock()
    context = KeySourceContext(
        aws=None,  # type: ignore[arg-type]  # no AWS call
        environ=environ,
        deadline=Deadline(30, clock),
        clock=clock,
        settings=settings,
    )
    return Pkcs11KeySource(settings.key, context, hash_on_token=hash_on_token)


def test_both_mechanisms_make_the_same_signature(softhsm: SoftHsm) -> None:  # noqa: F811
    """CKM_SHA256_RSA_PKCS, and CKM_RSA_PKCS over a DigestInfo as for a token without it: one
    RSASSA-PKCS1-v1_5 signature (deterministic), which the token's public key verifies."""
    signatures = []
    for hash_on_token, mechanism in ((True, HASH_ON_TOKEN), (False, HASH_HERE)):
        source = source_for(softhsm, softhsm.uri(), hash_on_token=hash_on_token)
        with source._context.cleanup:
            key = source.load_key()
            signatures.append(key.sign(PROBE, padding.PKCS1v15(), hashes.SHA256()))
            assert key.mechanism == mechanism
            assert mechanism in key.describe()
    assert signatures[0] == signatures[1]
    softhsm.public_key.verify(signatures[0], PROBE, padding.PKCS1v15(), hashes.SHA256())


def test_the_key_cannot_be_exported(softhsm: SoftHsm) -> None:  # noqa: F811
    import pkcs11

    source = source_for(softhsm, softhsm.uri())
    with source._context.cleanup:
        key = source.load_key()
        with pytest.raises(KeySourceError, match="never leaves the PKCS#11 token"):
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        with pytest.raises(KeySourceError):
            key.private_numbers()
        # The token itself refuses: the object is sensitive and was never extractable.
        token_key = source._session.private_key()  # type: ignore[union-attr]
        assert token_key[pkcs11.Attribute.EXTRACTABLE] is False
        assert token_key[pkcs11.Attribute.SENSITIVE] is True
        assert token_key[pkcs11.Attribute.NEVER_EXTRACTABLE] is True
        assert token_key[pkcs11.Attribute.PRIVATE] is True
        assert token_key[pkcs11.Attribute.SIGN] is True
        assert token_key[pkcs11.Attribute.DECRYPT] is False
        with pytest.raises(pkcs11.AttributeSensitive):
            token_key[pkcs11.Attribute.PRIVATE_EXPONENT]
    assert "pin" not in repr(source).lower() and softhsm.pin not in repr(key)


@pytest.mark.parametrize(
    ("attributes", "label", "code", "needles"),
    [
        ((), "no-such-key", 3, ("no private key with that object",)),
        ((), EC_LABEL, 3, ("not an RSA key", "Generate an RSA key")),
        ((), TWIN_LABEL, 3, ("several private keys match", "by id=")),
        (("slot-id=4242",), RSA_LABEL, 3, ("no initialised PKCS#11 token matches",)),
    ],
    ids=["missing object", "EC key", "two keys, one label", "no such slot"],
)
def test_keys_that_cannot_sign(
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
    attributes: tuple[str, ...],
    label: str,
    code: int,
    needles: tuple[str, ...],
) -> None:
    env = with_token(softhsm_env, softhsm)
    run_cli(["cert", "--key", softhsm.uri(*attributes, label=label)], env).assert_failed(
        code, *needles
    )


def test_keys_named_by_id_and_slot(
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    import pkcs11

    env = with_token(softhsm_env, softhsm)
    # Two keys share a label: id= picks one.
    twin = make_certificate(env, softhsm.uri("id=%03", label=TWIN_LABEL), tmp_path / "twin.pem")
    assert twin.public_key().public_numbers() != softhsm.public_key.public_numbers()  # type: ignore[union-attr]
    # The id alone names the key; slot-id names the token.
    slot = pkcs11.lib(softhsm.module).get_token(token_label=TOKEN).slot.slot_id
    by_id = f"pkcs11:slot-id={slot};id=%01%a7"
    assert make_certificate(env, by_id, tmp_path / "id.pem").public_key() == softhsm.public_key
    # Without token= or slot-id=, two tokens match.
    run_cli(["cert", "--key", "pkcs11:object=x"], env).assert_failed(3, "2 PKCS#11 tokens match")


def test_wrong_pin_is_refused_without_echoing_it(
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
) -> None:
    env = with_token(softhsm_env, softhsm)
    env["SF_CREDPROC_PKCS11_PIN"] = "not-the-pin-7731"
    SECRETS.add("not-the-pin-7731")  # run_cli fails if it appears anywhere
    run_cli(["cert", "--key", softhsm.uri()], env).assert_failed(
        3, "the PIN was refused", "SF_CREDPROC_PKCS11_PIN"
    )


def test_no_pin_for_a_token_that_needs_one(
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
) -> None:
    softhsm_env["SF_CREDPROC_PKCS11_MODULE"] = softhsm.module
    run_cli(["cert", "--key", softhsm.uri()], softhsm_env).assert_failed(
        2, "needs a PIN", "pin-source=file:", "--pkcs11-pin-file", "SF_CREDPROC_PKCS11_PIN"
    )


def test_exec_removes_the_pin_from_the_child_environment(
    org: SalesforceEmulator,
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
) -> None:
    org.register_app(CLIENT_ID, softhsm.public_pem())
    env = with_token(softhsm_env, softhsm)
    run = run_cli(["exec", *get_args(org, softhsm.uri())[1:], "--", "env"], env)
    assert run.code == 0, run.stderr
    names = {line.partition("=")[0] for line in run.stdout.splitlines() if "=" in line}
    assert "SF_CREDPROC_PKCS11_PIN" not in names
    assert {"SF_ACCESS_TOKEN", "SF_CREDPROC_PKCS11_MODULE", "SOFTHSM2_CONF"} <= names
