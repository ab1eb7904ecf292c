"""The shipped Vault policies (``vault/``): OpenBao parses them, each is sufficient for its commands
and no wider, and the AppRole recipe runs as written.

On the shared server a test loads a policy with the example names (mount ``transit``, key
``sf-jwt``, secret ``salesforce/jwt``) replaced by its own; the recipe, which creates exactly the
example names, runs on a server of its own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from helpers import (
    CLIENT_ID,
    SECRETS,
    USERNAME,
    get_args,
    pem_private,
    pem_public,
    run_cli,
    throwaway_key,
)
from openbao import (
    POLICIES,
    OpenBao,
    TransitKey,
    bao_binary,
    new_transit_key,
    openbao_server,  # noqa: F401 (the fixture)
    own_openbao_server,  # noqa: F401 (the fixture)
    shipped_policy,
    unique,
    vault_env,
)

from sf_credproc.emulator import SalesforceEmulator

SHIPPED = ["transit-signer.hcl", "transit-cert-operator.hcl", "kv-reader.hcl"]


def policy_paths(text: str) -> dict[str, list[str]]:
    """``path "P" { capabilities = [...] }`` blocks of an HCL policy, comments ignored."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    blocks = re.findall(r'path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}', code)
    return {path: json.loads(f"[{caps}]") for path, caps in blocks}


def assert_logged_in(org: SalesforceEmulator, credential: dict[str, object]) -> None:
    assert credential["AccessToken"] in org.sessions
    assert credential["Username"] == USERNAME
    assert [r.status for r in org.token_requests] == [200]


def test_the_documents_grant_exactly_these_paths() -> None:
    sign = {"transit/sign/sf-jwt": ["update"], "transit/sign/sf-jwt/sha2-256": ["update"]}
    revoke_self = {"auth/token/revoke-self": ["update"]}
    assert policy_paths((POLICIES / "transit-signer.hcl").read_text()) == {**sign, **revoke_self}
    assert policy_paths((POLICIES / "transit-cert-operator.hcl").read_text()) == {
        **sign,
        "transit/keys/sf-jwt": ["read"],
        **revoke_self,
    }
    assert policy_paths((POLICIES / "kv-reader.hcl").read_text()) == {
        "secret/data/salesforce/jwt": ["read"],
        **revoke_self,
    }
    for name in SHIPPED:  # no glob, no wildcard segment anywhere
        assert not any(c in path for path in policy_paths(shipped_policy(name)) for c in "*+")


@pytest.mark.parametrize("name", SHIPPED)
def test_openbao_parses_each_policy(name: str, openbao: OpenBao) -> None:
    """Loaded as shipped; the server reads back the same rules."""
    policy = openbao.write_policy(unique(name.removesuffix(".hcl")), shipped_policy(name))
    stored = openbao.api("GET", f"sys/policies/acl/{policy}")["data"]["policy"]
    assert policy_paths(stored) == policy_paths(shipped_policy(name))


def as_mine(key: TransitKey) -> dict[str, str]:
    return {"transit/": f"{key.mount}/", "sf-jwt": key.name}


@pytest.fixture
def keys(openbao: OpenBao, org: SalesforceEmulator) -> tuple[TransitKey, TransitKey]:
    """The app's Transit key (registered) and a key named like it plus ``-admin``."""
    key = new_transit_key(openbao)
    admin = new_transit_key(openbao, mount=key.mount, name=f"{key.name}-admin")
    org.register_app(CLIENT_ID, key.public_key_pem())
    return key, admin


def test_transit_signer_is_sufficient_and_narrow(
    org: SalesforceEmulator,
    env: dict[str, str],
    openbao: OpenBao,
    keys: tuple[TransitKey, TransitKey],
) -> None:
    key, admin = keys
    policy = openbao.write_policy(
        unique("signer"), shipped_policy("transit-signer.hcl", as_mine(key))
    )
    token = openbao.create_token([policy])
    job_env = vault_env(env, openbao, token)
    assert_logged_in(org, run_cli(get_args(org, key.uri), job_env).credential())

    # Not the key named alike, not the key's metadata, not a rotation.
    for method, path in [
        ("POST", f"{admin.mount}/sign/{admin.name}/sha2-256"),
        ("POST", f"{admin.mount}/sign/{admin.name}"),
        ("GET", f"{key.mount}/keys/{key.name}"),
        ("POST", f"{key.mount}/keys/{key.name}/rotate"),
    ]:
        body = {"input": "aGk="} if "/sign/" in path else None
        assert openbao.call(method, path, body, token=token).status == 403, path
    org.token_requests.clear()
    run = run_cli([*get_args(org, admin.uri), "--no-cache"], job_env)
    run.assert_failed(3, f"sign/{admin.name}")
    # cert reads the public key: a set-up permission this policy does not grant.
    run_cli(["cert", "--key", key.uri], job_env).assert_failed(3, f"keys/{key.name}")


def test_doctor_with_the_signer_policy_skips_only_the_public_key(
    org: SalesforceEmulator,
    env: dict[str, str],
    openbao: OpenBao,
    keys: tuple[TransitKey, TransitKey],
) -> None:
    """The job's own token passes doctor: the probe signs; reading the public key is refused and
    shown as skipped (a set-up permission), not as a failure."""
    key, _ = keys
    policy = openbao.write_policy(
        unique("signer"), shipped_policy("transit-signer.hcl", as_mine(key))
    )
    job_env = vault_env(env, openbao, openbao.create_token([policy]))
    doctor = run_cli(["doctor", *get_args(org, key.uri)[1:], "--json"], job_env)
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert doctor.code == 0, doctor.stdout
    assert checks["key"]["status"] == "ok"
    assert checks["public key"]["status"] == "skipped"
    assert f"keys/{key.name}" in checks["public key"]["detail"] + checks["public key"]["fix"]
    assert checks["token exchange"]["status"] == "ok"


def test_a_glob_would_have_matched_the_admin_key(
    openbao: OpenBao, keys: tuple[TransitKey, TransitKey]
) -> None:
    """Why the paths are exact: ``sign/KEY*`` lets the token sign with ``KEY-admin`` too."""
    key, admin = keys
    glob = openbao.write_policy(
        unique("glob"),
        f'path "{key.mount}/sign/{key.name}*" {{ capabilities = ["update"] }}\n',
    )
    token = openbao.create_token([glob])
    answer = openbao.call(
        "POST", f"{admin.mount}/sign/{admin.name}/sha2-256", {"input": "aGk="}, token=token
    )
    assert answer.status == 200


def test_transit_cert_operator_runs_cert_and_doctor(
    org: SalesforceEmulator,
    env: dict[str, str],
    openbao: OpenBao,
    keys: tuple[TransitKey, TransitKey],
    tmp_path: Path,
) -> None:
    key, admin = keys
    policy = openbao.write_policy(
        unique("operator"), shipped_policy("transit-cert-operator.hcl", as_mine(key))
    )
    token = openbao.create_token([policy])
    operator_env = vault_env(env, openbao, token)
    out = tmp_path / "app.crt"
    made = run_cli(["cert", "--key", key.uri, "--out", str(out)], operator_env)
    assert made.code == 0, made.stderr
    org.register_app(CLIENT_ID, out.read_bytes())
    doctor = run_cli(
        ["doctor", *get_args(org, key.uri)[1:], "--cert", str(out), "--json"], operator_env
    )
    checks = {c["name"]: c["status"] for c in json.loads(doctor.stdout)["checks"]}
    assert doctor.code == 0, doctor.stdout
    assert checks["public key"] == "ok"
    assert set(checks.values()) == {"ok"}
    assert openbao.call("GET", f"{admin.mount}/keys/{admin.name}", token=token).status == 403


def test_kv_reader_is_sufficient_and_narrow(
    org: SalesforceEmulator, env: dict[str, str], openbao: OpenBao
) -> None:
    """On the dev server's own KV version 2 at ``secret/``, under a path of the test's own."""
    path = unique("salesforce") + "/jwt"
    sibling = path.replace("/jwt", "/other")
    app_key = throwaway_key()
    openbao.write_secret("secret", path, {"private_key": pem_private(app_key).decode()})
    openbao.write_secret("secret", sibling, {"private_key": "not for this job"})
    org.register_app(CLIENT_ID, pem_public(app_key))
    policy = openbao.write_policy(
        unique("kv-reader"), shipped_policy("kv-reader.hcl", {"salesforce/jwt": path})
    )
    token = openbao.create_token([policy])
    job_env = vault_env(env, openbao, token)
    assert_logged_in(org, run_cli(get_args(org, f"vault:secret/{path}"), job_env).credential())
    org.token_requests.clear()
    run = run_cli([*get_args(org, f"vault:secret/{sibling}"), "--no-cache"], job_env)
    run.assert_failed(3, sibling)
    assert openbao.call("GET", f"secret/metadata/{path}", token=token).status == 403
    assert openbao.call("LIST", "secret/metadata/", token=token).status == 403


def test_approle_recipe_runs_as_written(
    org: SalesforceEmulator, env: dict[str, str], own_openbao: OpenBao, tmp_path: Path
) -> None:
    """``sh vault/approle-setup.sh`` with ``VAULT=bao`` and an administrator's token; the job
    then logs in with the role id and secret id it printed, and leaves no token behind."""
    binary = bao_binary()
    assert binary is not None  # own_openbao skipped otherwise
    admin_env = {
        "PATH": f"{Path(binary).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path),
        "VAULT": "bao",
        "VAULT_ADDR": own_openbao.addr,
        "VAULT_TOKEN": own_openbao.root_token,
    }
    done = subprocess.run(
        ["sh", str(POLICIES / "approle-setup.sh")],
        env=admin_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    role_id = lines[lines.index(next(x for x in lines if x.startswith("role id"))) + 1].strip()
    secret_id = lines[lines.index(next(x for x in lines if x.startswith("secret id"))) + 1].strip()
    SECRETS.add(secret_id)
    assert re.fullmatch(r"[0-9a-f-]{36}", role_id) and re.fullmatch(r"[0-9a-f-]{36}", secret_id)

    org.register_app(CLIENT_ID, own_openbao.public_key_pem("transit", "sf-jwt"))
    job_env = vault_env(env, own_openbao, token="")
    job_env["SF_CREDPROC_VAULT_SECRET_ID"] = secret_id
    before = set(own_openbao.accessors())
    run = run_cli([*get_args(org, "transit:sf-jwt"), "--vault-role-id", role_id], job_env)
    assert_logged_in(org, run.credential())
    assert set(own_openbao.accessors()) - before == set()


def commands(shell: str) -> list[str]:
    """Shell commands with continuation lines joined, comments and extra blanks removed."""
    joined = re.sub(r"\\\n\s*", " ", shell)
    lines = (re.sub(r"\s+#.*$", "", line).strip() for line in joined.splitlines())
    return [" ".join(line.split()) for line in lines if line and not line.startswith("#")]


def test_the_readme_recipe_is_the_script() -> None:
    """The README's AppRole steps are the ones ``approle-setup.sh`` runs (and the suite tests)."""
    readme = (POLICIES.parent / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL)
    (block,) = [b for b in blocks if "auth/approle/role/sf-credproc" in b]
    script = (POLICIES / "approle-setup.sh").read_text()
    script = (
        script.replace('"$VAULT"', "vault").replace('"$here/', "vault/").replace('.hcl"', ".hcl")
    )
    in_script = " ; ".join(commands(script))
    for command in commands(block):
        assert command in in_script, command
