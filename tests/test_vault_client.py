"""The Vault client (``keys/vault_http.py``, ``vault_auth.py``, ``vault_errors.py``,
``vault_client.py``): the address and TLS policy, the namespace header, the token's order
(``VAULT_TOKEN``, ``~/.vault-token``, then AppRole: ``test_vault_approle.py``), and Vault's answers
mapped to exit codes and retries, against a real OpenBao and a scripted loopback peer."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from helpers import CLIENT_ID, SECRETS, USERNAME, get_args, run_cli
from openbao import OpenBao, openbao_server, unique, vault_env
from vault_peers import (
    Scripted,
    TlsOpenBao,
    approle_settings,
    assert_refused,
    errors_body,
    key_context,
    scripted_vault,
    sign,
    signer_token,
    tls_openbao_server,
    transit_key,
    transit_key_uri,
)

from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.errors import ConfigError, CredProcError, ExitStatus
from sf_credproc.keys.vault_http import DEFAULT_VAULT_ADDR, vault_address

__all__ = [
    "openbao_server",
    "tls_openbao_server",
    "transit_key_uri",
]  # fixtures, asked for by their names

# -- the address ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("addr", "needle"),
    [
        ("ftp://vault.example.com", "http or https"),
        ("http://vault.example.com:8200", "plain http to vault.example.com"),
        ("http://10.0.0.5:8200", "plain http to 10.0.0.5"),
        ("https://user:hunter2@vault.example.com", "user name or password"),
        ("https://vault.example.com/v1/", "no path"),
        ("https://vault.example.com?x=1", "no path, query"),
        ("https://127.1:8200", "canonical"),
        ("https://", "host"),
    ],
)
def test_a_bad_vault_addr_is_a_usage_error(addr: str, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        vault_address({"VAULT_ADDR": addr})
    assert_refused(caught.value, ExitStatus.USAGE, "VAULT_ADDR", needle)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("addr", "url"),
    [
        ("", DEFAULT_VAULT_ADDR),
        ("https://Vault.Example.com:8200/", "https://vault.example.com:8200"),
        ("http://127.0.0.1:8200", "http://127.0.0.1:8200"),
        ("http://[::1]:8200", "http://[::1]:8200"),
        ("http://localhost:8200", "http://localhost:8200"),
    ],
)
def test_vault_addr_forms(addr: str, url: str) -> None:
    assert vault_address({"VAULT_ADDR": addr}).url == url


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VAULT_ADDR", "http://vault.example.com:8200"),
        ("VAULT_CACERT", "/nonexistent/ca.pem"),
        ("VAULT_NAMESPACE", "team a"),
    ],
)
def test_bad_vault_settings_fail_before_any_call(
    env: dict[str, str], variable: str, value: str
) -> None:
    token = "hvs.never-sent-0123456789abcdef"
    SECRETS.add(token)
    environment = {**env, "VAULT_ADDR": "https://vault.example.com", "VAULT_TOKEN": token}
    run = run_cli(["cert", "--key", "transit:sf-jwt"], {**environment, variable: value})
    run.assert_failed(2, variable)


def test_a_missing_ca_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        vault_address({"VAULT_ADDR": "https://vault.example.com", "VAULT_CACERT": str(tmp_path)})
    assert_refused(caught.value, ExitStatus.USAGE, "VAULT_CACERT")


def test_tls_with_vault_cacert(tls_openbao: TlsOpenBao, tmp_path: Path) -> None:
    server = tls_openbao.server
    mount = server.enable_transit()
    server.create_key(mount, "sf-jwt")
    environ = {
        "HOME": str(tmp_path),
        "VAULT_ADDR": server.addr,
        "VAULT_TOKEN": server.root_token,
        "VAULT_CACERT": str(tls_openbao.ca_file),
    }
    assert len(sign(transit_key(f"transit:{mount}/sf-jwt", key_context(environ)))) == 256


def test_tls_with_vault_capath(tls_openbao: TlsOpenBao, tmp_path: Path) -> None:
    server = tls_openbao.server
    mount = server.enable_transit()
    server.create_key(mount, "sf-jwt")
    directory = tmp_path / "cas"
    directory.mkdir()
    (directory / "vault-ca.pem").write_bytes(tls_openbao.ca_file.read_bytes())
    subprocess.run(["openssl", "rehash", str(directory)], check=True, capture_output=True)
    environ = {
        "HOME": str(tmp_path),
        "VAULT_ADDR": server.addr,
        "VAULT_TOKEN": server.root_token,
        "VAULT_CAPATH": str(directory),
    }
    assert len(sign(transit_key(f"transit:{mount}/sf-jwt", key_context(environ)))) == 256


def test_an_untrusted_certificate_is_a_usage_error(tls_openbao: TlsOpenBao, tmp_path: Path) -> None:
    environ = {
        "HOME": str(tmp_path),
        "VAULT_ADDR": tls_openbao.server.addr,
        "VAULT_TOKEN": tls_openbao.server.root_token,
    }
    with pytest.raises(CredProcError) as caught:
        sign(transit_key("transit:sf-jwt", key_context(environ)))
    assert_refused(caught.value, ExitStatus.USAGE, "could not be verified", "VAULT_CACERT")


# -- the namespace ----------------------------------------------------------------------------


def test_the_namespace_is_sent(openbao: OpenBao, tmp_path: Path) -> None:
    namespace = unique("team")
    openbao.api("POST", f"sys/namespaces/{namespace}")
    headers = {"X-Vault-Token": openbao.root_token, "X-Vault-Namespace": namespace}
    for path, body in ((f"sys/mounts/{namespace}-t", {"type": "transit"}), (f"{namespace}-t/keys/k", {"type": "rsa-2048"})):  # fmt: skip
        answer = openbao.session.post(
            f"{openbao.addr}/v1/{path}", json=body, headers=headers, timeout=30
        )
        assert answer.status_code in (200, 204), answer.text
    environ = {"HOME": str(tmp_path), "VAULT_ADDR": openbao.addr, "VAULT_TOKEN": openbao.root_token}
    uri = f"transit:{namespace}-t/k"
    assert (
        len(sign(transit_key(uri, key_context({**environ, "VAULT_NAMESPACE": namespace})))) == 256
    )
    with pytest.raises(CredProcError) as caught:
        sign(transit_key(uri, key_context(environ)))
    assert_refused(caught.value, ExitStatus.KEY_SOURCE, "VAULT_NAMESPACE")


def test_the_namespace_and_token_headers(tmp_path: Path) -> None:
    script = Scripted(status=404, body=errors_body())
    token = "hvs.recorded-token-0123456789abcdef"
    SECRETS.add(token)
    with scripted_vault(script) as addr:
        environ = {"HOME": str(tmp_path), "VAULT_ADDR": addr, "VAULT_TOKEN": token}
        with pytest.raises(CredProcError):
            sign(transit_key("transit:k", key_context({**environ, "VAULT_NAMESPACE": "a/b/"})))
    method, path, headers = script.requests[0]
    assert (method, path) == ("POST", "/v1/transit/sign/k/sha2-256")
    assert headers["X-Vault-Namespace"] == "a/b"
    assert headers["X-Vault-Token"] == token


# -- the token's order ------------------------------------------------------------------------


def test_vault_token_beats_the_token_file(openbao: OpenBao, transit: str, tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text("hvs.not-a-live-token\n")
    environ = {
        "HOME": str(tmp_path),
        "VAULT_ADDR": openbao.addr,
        "VAULT_TOKEN": signer_token(openbao, transit),
    }
    assert len(sign(transit_key(transit, key_context(environ)))) == 256


@pytest.mark.parametrize("vault_token", [None, "", "  "])
def test_the_token_file_when_vault_token_is_unset(
    openbao: OpenBao, transit: str, tmp_path: Path, vault_token: str | None
) -> None:
    (tmp_path / ".vault-token").write_text(signer_token(openbao, transit) + "\n")
    environ = {"HOME": str(tmp_path), "VAULT_ADDR": openbao.addr}
    if vault_token is not None:
        environ["VAULT_TOKEN"] = vault_token
    # A role id too: the token file comes first, so no AppRole login is tried (no such mount).
    settings = approle_settings(environ, vault_role_id="some-role", vault_approle_mount="none")
    assert len(sign(transit_key(transit, key_context(environ, settings=settings)))) == 256


def test_a_token_file_that_is_a_directory_is_a_usage_error(
    openbao: OpenBao, tmp_path: Path
) -> None:
    (tmp_path / ".vault-token").mkdir()
    environ = {"HOME": str(tmp_path), "VAULT_ADDR": openbao.addr}
    with pytest.raises(CredProcError) as caught:
        sign(transit_key("transit:k", key_context(environ)))
    assert_refused(caught.value, ExitStatus.USAGE, "~/.vault-token", "a directory")


def test_no_token_names_the_three_ways(openbao: OpenBao, tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "VAULT_ADDR": openbao.addr}
    with pytest.raises(CredProcError) as caught:
        sign(transit_key("transit:k", key_context(environ, settings=approle_settings(environ))))
    assert_refused(
        caught.value, ExitStatus.USAGE, "VAULT_TOKEN", "~/.vault-token", "--vault-role-id"
    )


def test_a_secret_id_without_a_role_id(openbao: OpenBao, tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "VAULT_ADDR": openbao.addr}
    secret_id = "5e1a7c2e-secret-id-without-a-role"
    SECRETS.add(secret_id)
    settings = approle_settings({**environ, "SF_CREDPROC_VAULT_SECRET_ID": secret_id})
    with pytest.raises(CredProcError) as caught:
        sign(transit_key("transit:k", key_context(environ, settings=settings)))
    assert_refused(caught.value, ExitStatus.USAGE, "no role id", "--vault-role-id")


def test_a_vault_token_with_a_line_break_is_refused_unquoted(tmp_path: Path) -> None:
    token = "hvs.first-line-of-a-token\nsecond"
    SECRETS.add(token.splitlines()[0])
    environ = {"HOME": str(tmp_path), "VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": token}
    with pytest.raises(CredProcError) as caught:
        sign(transit_key("transit:k", key_context(environ)))
    assert_refused(caught.value, ExitStatus.USAGE, "VAULT_TOKEN")


# -- Vault's answers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "code", "needle"),
    [
        (429, errors_body("rate limited"), ExitStatus.TRANSIENT, "HTTP 429"),
        (500, errors_body("internal error"), ExitStatus.TRANSIENT, "HTTP 500"),
        (502, b"<html>bad gateway</html>", ExitStatus.TRANSIENT, "HTTP 502"),
        (503, errors_body("Vault is sealed"), ExitStatus.TRANSIENT, "is sealed"),
        (503, b"", ExitStatus.TRANSIENT, "unavailable"),
        (307, b"", ExitStatus.USAGE, "redirect"),
        (400, errors_body("something odd"), ExitStatus.USAGE, "something odd"),
        (404, errors_body(), ExitStatus.KEY_SOURCE, "HTTP 404"),
        (403, errors_body("permission denied"), ExitStatus.KEY_SOURCE, "on POST /v1/transit/sign/k/sha2-256"),
        (200, b"not json", ExitStatus.KEY_SOURCE, "holds no data"),
        (200, b'{"data": {"signature": "c2lnbmF0dXJl"}}', ExitStatus.KEY_SOURCE, "vault:vN"),
        (200, b'{"data": {"signature": "vault:v1:AAAA"}}', ExitStatus.KEY_SOURCE, "24-bit signature"),
        (200, b"{" + b" " * (600 * 1024) + b"}", ExitStatus.TRANSIENT, "oversized"),
        (400, errors_body("\x1b[31mred\nsecond line " + "x" * 400), ExitStatus.USAGE, "red second line"),
    ],
)  # fmt: skip
def test_vault_answers_map_to_exit_codes(
    tmp_path: Path, status: int, body: bytes, code: ExitStatus, needle: str
) -> None:
    script = Scripted(status, body, {"Location": "https://elsewhere.example/v1/x"})
    token = "hvs.scripted-peer-token-abcdef0123"
    SECRETS.add(token)
    with scripted_vault(script) as addr:
        environ = {"HOME": str(tmp_path), "VAULT_ADDR": addr, "VAULT_TOKEN": token}
        with pytest.raises(CredProcError) as caught:
            sign(transit_key("transit:k", key_context(environ)))
    assert_refused(caught.value, code, needle)
    assert len(caught.value.message) < 400
    # What may pass by itself is retried within the deadline (login.log_in); nothing else is.
    assert caught.value.retryable is (code == ExitStatus.TRANSIENT)
    # One request (a redirect is never followed), plus a lookup-self to explain a 403.
    assert len(script.requests) == (2 if status == 403 else 1)


def test_an_unreachable_vault_is_transient(tmp_path: Path) -> None:
    # A port bound but not listening refuses connections, and no other server can take it.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        environ = {
            "HOME": str(tmp_path),
            "VAULT_ADDR": f"http://127.0.0.1:{held.getsockname()[1]}",
            "VAULT_TOKEN": "t",
        }
        with pytest.raises(CredProcError) as caught:
            sign(transit_key("transit:k", key_context(environ)))
    assert_refused(caught.value, ExitStatus.TRANSIENT, "could not reach Vault", "VAULT_ADDR")


def test_a_sealed_answer_is_retried_within_the_deadline(
    org: SalesforceEmulator, env: dict[str, str], openbao: OpenBao, transit: str
) -> None:
    """Vault answers 503 "sealed" twice, then recovers: get logs in, within one command."""
    mount, _, name = transit.removeprefix("transit:").rpartition("/")
    org.register_app(CLIENT_ID, openbao.public_key_pem(mount, name))
    script = Scripted(503, errors_body("Vault is sealed"), then_forward_to=openbao.addr)
    script.scripted_answers = 2
    with scripted_vault(script) as addr:
        environment = {**vault_env(env, openbao), "VAULT_ADDR": addr}
        run = run_cli([*get_args(org, transit), "--no-cache"], environment)
    assert run.credential()["Username"] == USERNAME
    signs = [path for method, path, _ in script.requests if "/sign/" in path]
    assert len(signs) == 3
