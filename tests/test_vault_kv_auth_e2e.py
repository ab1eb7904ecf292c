"""``vault:`` keys (a PEM in KV version 2) and Vault's ways to authenticate, end to end against a
real OpenBao and the emulator: a token in ``VAULT_TOKEN``, the token file ``~/.vault-token``,
AppRole (its token revoked when the command ends); ``exec`` hands none of them on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import (
    CLIENT_ID,
    USERNAME,
    get_args,
    pem_private,
    pem_public,
    run_cli,
    run_process,
)
from openbao import (
    OpenBao,
    TransitKey,
    new_transit_key,
    openbao_server,  # noqa: F401 (the fixture)
    shipped_policy,
    unique,
    vault_env,
)

from sf_credproc.emulator import SalesforceEmulator

#: What an OpenBao or Vault service or batch token looks like (``s.``, ``b.``, ``hvs.``...).
TOKEN_SHAPE = re.compile(r"\b(?:hv)?[sbr]\.[A-Za-z0-9]{20,}")


def assert_logged_in(org: SalesforceEmulator, credential: dict[str, object]) -> None:
    assert credential["AccessToken"] in org.sessions
    assert credential["Username"] == USERNAME
    assert [r.status for r in org.token_requests] == [200]


@pytest.fixture
def kv(openbao: OpenBao) -> str:
    """A KV version 2 mount of the test's own."""
    return openbao.enable_kv()


@pytest.fixture
def venv(env: dict[str, str], openbao: OpenBao) -> dict[str, str]:
    return vault_env(env, openbao)


# -- vault: keys -------------------------------------------------------------------------------


def test_kv_default_field(
    org: SalesforceEmulator,
    venv: dict[str, str],
    openbao: OpenBao,
    kv: str,
    app_key: rsa.RSAPrivateKey,
) -> None:
    openbao.write_secret(kv, "salesforce/jwt", {"private_key": pem_private(app_key).decode()})
    run = run_cli(get_args(org, f"vault:{kv}/salesforce/jwt"), venv)
    assert_logged_in(org, run.credential())
    assert run.stderr == ""


def test_kv_named_field_with_a_passphrase(
    org: SalesforceEmulator,
    venv: dict[str, str],
    openbao: OpenBao,
    kv: str,
    app_key: rsa.RSAPrivateKey,
) -> None:
    """``#pem`` names the field; the ``passphrase`` field decrypts it, as in Secrets Manager."""
    passphrase = "kv passphrase for the test"
    document = {"pem": pem_private(app_key, passphrase.encode()).decode(), "passphrase": passphrase}
    openbao.write_secret(kv, "team/sf", document)
    run = run_cli(get_args(org, f"vault:{kv}/team/sf#pem"), venv)
    assert_logged_in(org, run.credential())


def test_cert_from_a_kv_key(
    org: SalesforceEmulator,
    venv: dict[str, str],
    openbao: OpenBao,
    kv: str,
    tmp_path: Path,
) -> None:
    from helpers import throwaway_key

    key = throwaway_key()
    openbao.write_secret(kv, "salesforce/jwt", {"private_key": pem_private(key).decode()})
    run = run_cli(["cert", "--key", f"vault:{kv}/salesforce/jwt"], venv)
    assert run.code == 0, run.stderr
    certificate = x509.load_pem_x509_certificate(run.stdout.encode())
    public = certificate.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert pem_public(public) == pem_public(key)
    org.register_app(CLIENT_ID, run.stdout.encode())
    assert_logged_in(org, run_cli(get_args(org, f"vault:{kv}/salesforce/jwt"), venv).credential())


def test_doctor_with_a_kv_key(
    org: SalesforceEmulator,
    venv: dict[str, str],
    openbao: OpenBao,
    kv: str,
    app_key: rsa.RSAPrivateKey,
) -> None:
    openbao.write_secret(kv, "salesforce/jwt", {"private_key": pem_private(app_key).decode()})
    run = run_cli(["doctor", *get_args(org, f"vault:{kv}/salesforce/jwt")[1:], "--json"], venv)
    checks = {c["name"]: c for c in json.loads(run.stdout)["checks"]}
    assert run.code == 0, run.stdout
    assert "RSA 2048-bit" in checks["key"]["detail"]
    assert checks["token exchange"]["status"] == "ok"


@pytest.mark.parametrize("case", ["missing field", "missing secret", "missing mount"])
def test_kv_missing(
    case: str,
    org: SalesforceEmulator,
    venv: dict[str, str],
    openbao: OpenBao,
    kv: str,
    app_key: rsa.RSAPrivateKey,
) -> None:
    openbao.write_secret(kv, "salesforce/jwt", {"pem": pem_private(app_key).decode()})
    uri, needle = {
        "missing field": (f"vault:{kv}/salesforce/jwt", "private_key"),
        "missing secret": (f"vault:{kv}/salesforce/other", "salesforce/other"),
        "missing mount": (f"vault:{unique('nokv')}/salesforce/jwt", "salesforce/jwt"),
    }[case]
    run_cli(get_args(org, uri), venv).assert_failed(3, needle)
    assert org.token_requests == []


def test_kv_version_1_mount_is_refused_with_the_fix(
    org: SalesforceEmulator,
    venv: dict[str, str],
    openbao: OpenBao,
    app_key: rsa.RSAPrivateKey,
) -> None:
    """KV version 1 has no ``data/`` level: the key is not found there, exit 3."""
    kv1 = openbao.enable_kv(version=1)
    openbao.write_secret(
        kv1, "salesforce/jwt", {"private_key": pem_private(app_key).decode()}, version=1
    )
    run_cli(get_args(org, f"vault:{kv1}/salesforce/jwt"), venv).assert_failed(3)
    assert org.token_requests == []


# -- authentication ----------------------------------------------------------------------------


@pytest.fixture
def signer(openbao: OpenBao, org: SalesforceEmulator) -> tuple[TransitKey, str]:
    """A Transit key registered with the app, and a policy holding exactly the shipped signer
    policy for it."""
    key = new_transit_key(openbao)
    org.register_app(CLIENT_ID, key.public_key_pem())
    policy = openbao.write_policy(
        unique("signer"),
        shipped_policy("transit-signer.hcl", {"transit/": f"{key.mount}/", "sf-jwt": key.name}),
    )
    return key, policy


def test_token_file_when_vault_token_is_unset(
    org: SalesforceEmulator, env: dict[str, str], openbao: OpenBao, signer: tuple[TransitKey, str]
) -> None:
    """``~/.vault-token``, where Vault Agent's auto-auth sink writes."""
    key, policy = signer
    token = openbao.create_token([policy])
    token_file = Path(env["HOME"]) / ".vault-token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    run = run_cli(get_args(org, key.uri), vault_env(env, openbao, token=""))
    assert_logged_in(org, run.credential())


def test_vault_token_comes_before_the_token_file(
    org: SalesforceEmulator, env: dict[str, str], openbao: OpenBao, signer: tuple[TransitKey, str]
) -> None:
    """Vault's order: a revoked ``VAULT_TOKEN`` fails even with a good token file."""
    key, policy = signer
    good, dead = openbao.create_token([policy]), openbao.create_token([policy])
    openbao.revoke_token(dead)
    token_file = Path(env["HOME"]) / ".vault-token"
    token_file.write_text(good)
    token_file.chmod(0o600)
    run = run_cli(get_args(org, key.uri), vault_env(env, openbao, token=dead))
    run.assert_failed(3, "VAULT_TOKEN")
    assert org.token_requests == []


@pytest.fixture
def approle(openbao: OpenBao, signer: tuple[TransitKey, str]) -> tuple[str, str, str]:
    """An AppRole mount and role whose tokens hold the signer policy: (mount, role id, secret
    id)."""
    _, policy = signer
    mount = openbao.enable_approle()
    role_id, secret_id = openbao.create_approle(mount, unique("job"), [policy])
    return mount, role_id, secret_id


def approle_args(mount: str, role_id: str) -> list[str]:
    return ["--vault-role-id", role_id, "--vault-approle-mount", mount]


@pytest.mark.parametrize("secret_from", ["environment", "file"])
def test_approle_logs_in_and_revokes_its_token(
    secret_from: str,
    org: SalesforceEmulator,
    env: dict[str, str],
    openbao: OpenBao,
    signer: tuple[TransitKey, str],
    approle: tuple[str, str, str],
    tmp_path: Path,
) -> None:
    """No token anywhere: AppRole logs in; the token it got is revoked when the command ends."""
    key, _ = signer
    mount, role_id, secret_id = approle
    job_env = vault_env(env, openbao, token="")
    args = [*get_args(org, key.uri), *approle_args(mount, role_id)]
    if secret_from == "environment":
        job_env["SF_CREDPROC_VAULT_SECRET_ID"] = secret_id
    else:
        secret_file = tmp_path / "secret-id"
        secret_file.write_text(secret_id + "\n")
        secret_file.chmod(0o600)
        args += ["--vault-secret-id-file", str(secret_file)]
    before = set(openbao.accessors())
    run = run_cli(args, job_env)
    assert_logged_in(org, run.credential())
    assert set(openbao.accessors()) - before == set(), "the AppRole token outlived the command"


def test_approle_token_revoked_by_a_real_process(
    org: SalesforceEmulator,
    env: dict[str, str],
    openbao: OpenBao,
    signer: tuple[TransitKey, str],
    approle: tuple[str, str, str],
) -> None:
    """The installed command as a process: the revocation runs before the process exits."""
    key, _ = signer
    mount, role_id, secret_id = approle
    job_env = vault_env(env, openbao, token="")
    job_env["SF_CREDPROC_VAULT_SECRET_ID"] = secret_id
    before = set(openbao.accessors())
    run = run_process([*get_args(org, key.uri), *approle_args(mount, role_id)], job_env)
    assert_logged_in(org, run.credential())
    assert set(openbao.accessors()) - before == set()


def test_approle_role_id_from_the_environment_and_a_refused_revocation(
    org: SalesforceEmulator, env: dict[str, str], openbao: OpenBao, signer: tuple[TransitKey, str]
) -> None:
    """A role whose policy lacks ``auth/token/revoke-self``: the revocation is refused, the
    command still succeeds (best effort), and the token lives on only until its TTL."""
    key, _ = signer
    policy = openbao.write_policy(
        unique("sign-only"),
        f'path "{key.mount}/sign/{key.name}/sha2-256" {{ capabilities = ["update"] }}\n',
    )
    mount = openbao.enable_approle()
    role_id, secret_id = openbao.create_approle(mount, unique("job"), [policy], ttl="2m")
    job_env = vault_env(env, openbao, token="")
    job_env.update(
        SF_CREDPROC_VAULT_ROLE_ID=role_id,
        SF_CREDPROC_VAULT_SECRET_ID=secret_id,
    )
    before = set(openbao.accessors())
    run = run_cli([*get_args(org, key.uri), "--vault-approle-mount", mount], job_env)
    assert_logged_in(org, run.credential())
    left = set(openbao.accessors()) - before
    assert "token_ttl" in run.stderr  # warned: the role's TTL bounds the token's life
    assert len(left) == 1  # the one token the login made, still live
    assert openbao.token_policies_by_accessor(left.pop()) == [policy]


def test_approle_wrong_secret_id(
    org: SalesforceEmulator,
    env: dict[str, str],
    openbao: OpenBao,
    signer: tuple[TransitKey, str],
    approle: tuple[str, str, str],
) -> None:
    key, _ = signer
    mount, role_id, _ = approle
    job_env = vault_env(env, openbao, token="")
    job_env["SF_CREDPROC_VAULT_SECRET_ID"] = "00000000-0000-0000-0000-000000000000"
    run_cli([*get_args(org, key.uri), *approle_args(mount, role_id)], job_env).assert_failed(3)
    assert org.token_requests == []


def test_no_way_to_authenticate(
    org: SalesforceEmulator, env: dict[str, str], openbao: OpenBao, signer: tuple[TransitKey, str]
) -> None:
    """No VAULT_TOKEN, no token file, no role id: exit 2 naming the three ways."""
    key, _ = signer
    run = run_cli(get_args(org, key.uri), vault_env(env, openbao, token=""))
    run.assert_failed(2, "VAULT_TOKEN", ".vault-token", "role")


def test_exec_hands_on_no_vault_secret(
    org: SalesforceEmulator,
    env: dict[str, str],
    openbao: OpenBao,
    signer: tuple[TransitKey, str],
    approle: tuple[str, str, str],
) -> None:
    """The child of ``exec`` sees neither ``VAULT_TOKEN`` nor the AppRole secret id (the leak
    checker also fails the run if a value reaches its output)."""
    key, policy = signer
    _, _, secret_id = approle
    job_env = vault_env(env, openbao, token=openbao.create_token([policy]))
    job_env.update(SF_CREDPROC_VAULT_SECRET_ID=secret_id, UNRELATED_SETTING="kept")
    run = run_cli(["exec", *get_args(org, key.uri)[1:], "--", "env"], job_env)
    assert run.code == 0, run.stderr
    names = {line.partition("=")[0] for line in run.stdout.splitlines() if "=" in line}
    assert "VAULT_TOKEN" not in names
    assert "SF_CREDPROC_VAULT_SECRET_ID" not in names
    assert {"SF_ACCESS_TOKEN", "UNRELATED_SETTING", "VAULT_ADDR"} <= names


def test_verbose_run_prints_no_secret(
    org: SalesforceEmulator,
    env: dict[str, str],
    openbao: OpenBao,
    signer: tuple[TransitKey, str],
    approle: tuple[str, str, str],
) -> None:
    """``-v`` with AppRole: progress lines, and no secret id, no Vault token of any kind (the one
    the login made is unknown to the test: no token-shaped string at all)."""
    key, _ = signer
    mount, role_id, secret_id = approle
    job_env = vault_env(env, openbao, token="")
    job_env["SF_CREDPROC_VAULT_SECRET_ID"] = secret_id
    run = run_cli([*get_args(org, key.uri), *approle_args(mount, role_id), "-v"], job_env)
    assert_logged_in(org, run.credential())
    assert run.stderr != ""  # progress was printed
    for output in (run.stdout, run.stderr):
        assert secret_id not in output
        assert openbao.root_token not in output
    # stdout is the credential alone (the Salesforce token may hold any such characters).
    assert not TOKEN_SHAPE.search(run.stderr), run.stderr
