"""Vault AppRole (``keys/vault_auth.py``) against a real OpenBao: the login with the secret id
from the environment or a file, one login per command, the token revoked when the command ends
(or left to the role's ``token_ttl``, with a warning, when no time is left), and a refused login
that never echoes the credentials."""

from __future__ import annotations

from pathlib import Path

import pytest
from clocks import SkippingClock
from helpers import CLIENT_ID, SECRETS, USERNAME, get_args, run_cli
from openbao import OpenBao, openbao_server, unique, vault_env
from vault_peers import (
    SIGNER_POLICY,
    Scripted,
    approle_settings,
    assert_refused,
    errors_body,
    key_context,
    scripted_vault,
    sign,
    transit_key,
    transit_key_uri,
)

from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.errors import CredProcError, ExitStatus

__all__ = ["openbao_server", "transit_key_uri"]  # fixtures, asked for by their names


def live_tokens_with(openbao: OpenBao, policy: str) -> int:
    """How many live tokens hold ``policy`` (tests run in parallel: policies are unique)."""
    count = 0
    for accessor in openbao.accessors():
        answer = openbao.call("POST", "auth/token/lookup-accessor", {"accessor": accessor})
        if answer.status == 200 and policy in (answer.body["data"].get("policies") or []):
            count += 1
    return count


@pytest.fixture
def approle(openbao: OpenBao, transit: str) -> tuple[str, str, str, str]:
    """(mount, role id, secret id, policy) of a role that may sign with ``transit`` and read it."""
    mount_path, _, key = transit.removeprefix("transit:").rpartition("/")
    policy = openbao.write_policy(
        unique("role"),
        SIGNER_POLICY.format(mount=mount_path, key=key)
        + f'\npath "{mount_path}/keys/{key}" {{ capabilities = ["read"] }}'
        # Roles here issue tokens without the default policy, which grants this.
        + '\npath "auth/token/revoke-self" { capabilities = ["update"] }',
    )
    mount = openbao.enable_approle()
    role_id, secret_id = openbao.create_approle(mount, unique("sf"), [policy])
    return mount, role_id, secret_id, policy


@pytest.mark.parametrize("secret_from", ["environment", "file"])
def test_approle_logs_in_and_revokes_the_token(
    openbao: OpenBao,
    transit: str,
    approle: tuple[str, str, str, str],
    tmp_path: Path,
    secret_from: str,
) -> None:
    mount, role_id, secret_id, policy = approle
    environ = {"HOME": str(tmp_path), "VAULT_ADDR": openbao.addr}
    if secret_from == "file":
        (tmp_path / "secret-id").write_text(secret_id + "\n")
        options = {"vault_secret_id_file": str(tmp_path / "secret-id")}
    else:
        environ["SF_CREDPROC_VAULT_SECRET_ID"] = secret_id
        options = {}
    settings = approle_settings(
        environ, vault_role_id=role_id, vault_approle_mount=mount, **options
    )
    context = key_context(environ, settings=settings)
    with context.cleanup:
        key = transit_key(transit, context)
        assert len(sign(key)) == 256
        assert len(sign(key)) == 256  # the same token: one login per command
        assert live_tokens_with(openbao, policy) == 1
    assert live_tokens_with(openbao, policy) == 0


def test_a_wrong_secret_id_is_a_key_source_error(
    openbao: OpenBao, transit: str, approle: tuple[str, str, str, str], tmp_path: Path
) -> None:
    mount, role_id, _, _ = approle
    wrong = "00000000-wrong-secret-id-0000"
    SECRETS.add(wrong)
    environ = {
        "HOME": str(tmp_path),
        "VAULT_ADDR": openbao.addr,
        "SF_CREDPROC_VAULT_SECRET_ID": wrong,
    }
    settings = approle_settings(environ, vault_role_id=role_id, vault_approle_mount=mount)
    with pytest.raises(CredProcError) as caught:
        sign(transit_key(transit, key_context(environ, settings=settings)))
    assert_refused(
        caught.value, ExitStatus.KEY_SOURCE, f"AppRole login at auth/{mount}", "secret id"
    )


def test_a_login_refusal_that_quotes_the_secret_id_is_not_echoed(tmp_path: Path) -> None:
    secret_id = "3f0c1d2e-echoed-secret-id-9a8b"
    SECRETS.add(secret_id)
    script = Scripted(400, errors_body(f"invalid secret id {secret_id}"))
    with scripted_vault(script) as addr:
        environ = {
            "HOME": str(tmp_path),
            "VAULT_ADDR": addr,
            "SF_CREDPROC_VAULT_SECRET_ID": secret_id,
        }
        settings = approle_settings(environ, vault_role_id="role-1")
        with pytest.raises(CredProcError) as caught:
            sign(transit_key("transit:k", key_context(environ, settings=settings)))
    assert_refused(
        caught.value, ExitStatus.KEY_SOURCE, "AppRole login at auth/approle", "not shown"
    )
    method, path, headers = script.requests[0]
    assert (method, path) == ("POST", "/v1/auth/approle/login")
    assert "X-Vault-Token" not in headers


def test_no_time_left_to_revoke_never_fails_the_command(
    openbao: OpenBao,
    transit: str,
    approle: tuple[str, str, str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mount, role_id, secret_id, policy = approle
    environ = {
        "HOME": str(tmp_path),
        "VAULT_ADDR": openbao.addr,
        "SF_CREDPROC_VAULT_SECRET_ID": secret_id,
    }
    settings = approle_settings(environ, vault_role_id=role_id, vault_approle_mount=mount)
    clock = SkippingClock()
    context = key_context(environ, settings=settings, timeout=30, clock=clock)
    with context.cleanup:
        sign(transit_key(transit, context))
        clock.advance(60)
    assert "token_ttl" in caplog.text
    assert live_tokens_with(openbao, policy) == 1  # left to its TTL (5 minutes)


def test_get_by_approle_leaves_no_token(
    org: SalesforceEmulator,
    openbao: OpenBao,
    transit: str,
    approle: tuple[str, str, str, str],
    env: dict[str, str],
) -> None:
    mount, role_id, secret_id, policy = approle
    key_mount, _, name = transit.removeprefix("transit:").rpartition("/")
    org.register_app(CLIENT_ID, openbao.public_key_pem(key_mount, name))
    environment = {**vault_env(env, openbao, ""), "SF_CREDPROC_VAULT_SECRET_ID": secret_id}
    args = ["--vault-role-id", role_id, "--vault-approle-mount", mount, "--no-cache", "-v"]
    run = run_cli([*get_args(org, transit), *args], environment)
    assert run.credential()["Username"] == USERNAME
    # -v tells the login and the revocation, and (the leak checker) nothing secret.
    assert f"logged in to Vault by AppRole at auth/{mount}" in run.stderr
    assert "revoked the Vault token from AppRole" in run.stderr
    assert live_tokens_with(openbao, policy) == 0
