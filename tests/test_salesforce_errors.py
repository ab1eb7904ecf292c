"""Every way Salesforce (the emulator) refuses, as the user sees it: exit code and the fix."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from connect_proxy import ConnectProxy
from cryptography.hazmat.primitives.asymmetric import rsa
from faulty_emulator import CannedResponse, FaultyEmulator
from helpers import (
    CLIENT_ID,
    USERNAME,
    get_args,
    pem_private,
    pem_public,
    run_cli,
    run_timed,
    throwaway_key,
    under_load,
)


def test_user_not_pre_authorized(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    org.users[USERNAME].approved_apps.clear()
    run = run_cli(get_args(org, key), env)
    run.assert_failed(4, "user hasn't approved this consumer", "Permitted Users", "pre-authorized")


def test_key_does_not_match_certificate(
    org: FaultyEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(pem_private(throwaway_key()))
    run = run_cli(get_args(org, f"file:{other}"), env)
    run.assert_failed(4, "invalid assertion", "does not match the certificate")


def test_wrong_audience_names_it_and_suggests_audience(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    org.use_sandbox_audience()  # a sandbox org: login.salesforce.com is the wrong audience
    run = run_cli(get_args(org, key, "--audience", "https://login.salesforce.com"), env)
    run.assert_failed(4, "audience is invalid", "'https://login.salesforce.com'", "--audience")
    assert len(org.token_requests) == 1  # one attempt: never a second audience


def test_expired_assertion_points_at_the_clock(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    org.clock = lambda: time.time() + 3600  # Salesforce's clock an hour ahead of ours
    try:
        run = run_cli(get_args(org, key), env)
    finally:
        org.clock = time.time
    run.assert_failed(4, "expired authorization code", "clock")


def test_unknown_user(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    args = get_args(org, key)
    args[args.index(USERNAME)] = "nobody@acme.example"
    run = run_cli(args, env)
    run.assert_failed(4, "invalid user credentials", "--username")


def test_ip_restricted(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    org.users[USERNAME].ip_restricted = True
    run_cli(get_args(org, key), env).assert_failed(
        4, "ip restricted or invalid login hours", "IP ranges"
    )


def test_login_rate_exceeded_is_transient(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    org.login_limit_per_hour = 1
    run_cli(get_args(org, key), env).credential()
    run = run_cli(get_args(org, key, "--refresh"), env)
    run.assert_failed(5, "login rate exceeded", "retry after the cool-down", "600 s")


def test_unknown_consumer_key(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    args = get_args(org, key)
    args[args.index(CLIENT_ID)] = "3MVG9unknown"
    run_cli(args, env).assert_failed(4, "client identifier invalid", "--client-id", "2-10 minutes")


def test_new_app_not_yet_propagated(
    org: FaultyEmulator, env: dict[str, str], key: str, app_key: rsa.RSAPrivateKey
) -> None:
    from helpers import pem_public

    org.register_app(CLIENT_ID, pem_public(app_key), propagation_seconds=600)
    run_cli(get_args(org, key), env).assert_failed(4, "client identifier invalid", "propagate")


def test_unsupported_grant_type(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    body = {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
    org.canned_responses.append(
        CannedResponse(400, json.dumps(body).encode(), "application/json;charset=UTF-8")
    )
    run_cli(get_args(org, key), env).assert_failed(4, "does not accept the JWT bearer grant")


@pytest.mark.parametrize(
    ("status", "code", "needle"),
    [
        (200, 5, "HTML page"),  # a captive portal or maintenance page
        (503, 5, "HTML page"),  # Salesforce maintenance
        (404, 4, "--login-url"),  # not a token endpoint at all
    ],
)
def test_html_instead_of_json(
    status: int, code: int, needle: str, org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    # Persistently: transient answers are retried (4 attempts), permanent ones are not.
    org.canned_responses.extend([CannedResponse(status, b"<html><body>Down</body></html>")] * 4)
    run_cli(get_args(org, key), env).assert_failed(code, needle)
    assert len(org.canned_responses) == (0 if code == 5 else 3)


def test_non_json_text_body(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    org.canned_responses.append(CannedResponse(400, b"Bad Request", "text/plain"))
    run_cli(get_args(org, key), env).assert_failed(4, "not JSON")


def test_server_error_json_is_transient(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    body = {"error": "server_error", "error_description": "internal error"}
    org.canned_responses.extend(
        [CannedResponse(500, json.dumps(body).encode(), "application/json")] * 4
    )
    run_cli(get_args(org, key), env).assert_failed(5, "server_error", "Retry later")


def test_success_without_token_fields(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    org.canned_responses.append(CannedResponse(200, b'{"scope": "api"}', "application/json"))
    run_cli(get_args(org, key), env).assert_failed(4, "without access_token, instance_url, id")


def test_connection_refused_is_transient(env: dict[str, str], key: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nobody listens
    args = ["get", "--client-id", CLIENT_ID, "--username", USERNAME]
    run = run_cli([*args, "--login-url", f"http://127.0.0.1:{port}", "--key", key], env)
    run.assert_failed(5, "could not reach", f"127.0.0.1:{port}")


def test_untrusted_tls_certificate(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    env.pop("REQUESTS_CA_BUNDLE")  # the emulator's test CA is no longer trusted
    run = run_cli(get_args(org, key), env)
    run.assert_failed(2, "TLS certificate", "REQUESTS_CA_BUNDLE")
    assert org.token_requests == []


def test_ssl_cert_file_is_honoured(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    env["SSL_CERT_FILE"] = env.pop("REQUESTS_CA_BUNDLE")
    assert run_cli(get_args(org, key), env).credential()["AccessToken"] in org.sessions


def test_hanging_token_endpoint_ends_at_the_deadline(env: dict[str, str], key: str) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections, never answers
        port = silent.getsockname()[1]
        args = ["get", "--client-id", CLIENT_ID, "--username", USERNAME, "--timeout", "2"]
        run, elapsed = run_timed(
            [*args, "--login-url", f"http://127.0.0.1:{port}", "--key", key], env
        )
    run.assert_failed(5, "did not answer within")
    assert elapsed < 2 + under_load(3)  # the deadline, plus imports and the unwinding


MY_DOMAIN = "https://acme.my.salesforce.com"
SANDBOX_MY_DOMAIN = "https://acme--dev.sandbox.my.salesforce.com"


@pytest.fixture
def proxy(org: FaultyEmulator, env: dict[str, str]) -> Iterator[ConnectProxy]:
    """Real host names, resolved by a loopback CONNECT proxy to the emulator."""
    tunnel = ConnectProxy(int(org.url.rsplit(":", 1)[1])).start()
    env["HTTPS_PROXY"] = tunnel.url
    yield tunnel
    tunnel.stop()


@pytest.fixture
def external_client_app(org: FaultyEmulator, app_key: rsa.RSAPrivateKey) -> FaultyEmulator:
    """The test app registered as an External Client App of an org whose My Domain is acme."""
    org.register_app(CLIENT_ID, pem_public(app_key), external_client_app=True)
    org.audiences.update({MY_DOMAIN, SANDBOX_MY_DOMAIN})
    return org


#: (login URL, the audience derived from it, the fix the error line gives).
LEGACY_AUDIENCE_CASES = [
    (MY_DOMAIN, "https://login.salesforce.com", f"--audience {MY_DOMAIN}"),
    (SANDBOX_MY_DOMAIN, "https://test.salesforce.com", f"--audience {SANDBOX_MY_DOMAIN}"),
    (
        "https://login.salesforce.com",
        "https://login.salesforce.com",
        "--login-url https://MYDOMAIN.my.salesforce.com --audience https://MYDOMAIN.my.salesforce.com",
    ),
]


@pytest.mark.parametrize(("login_url", "audience", "fix"), LEGACY_AUDIENCE_CASES)
def test_external_client_app_refuses_the_legacy_audience(
    login_url: str,
    audience: str,
    fix: str,
    external_client_app: FaultyEmulator,
    env: dict[str, str],
    key: str,
    proxy: ConnectProxy,
) -> None:
    args = ["get", "--client-id", CLIENT_ID, "--username", USERNAME, "--key", key]
    run = run_cli([*args, "--login-url", login_url], env)
    run.assert_failed(
        4,
        "app_not_found: External client app is not installed in this org",
        f"The audience sent was {audience!r}",
        "External Client App refuses the legacy login hosts",
        fix,
    )
    (request,) = external_client_app.token_requests  # one attempt: never a second audience
    assert request.claims is not None and request.claims["aud"] == audience


def test_external_client_app_with_my_domain_audience(
    external_client_app: FaultyEmulator, env: dict[str, str], key: str, proxy: ConnectProxy
) -> None:
    args = ["get", "--client-id", CLIENT_ID, "--username", USERNAME, "--key", key]
    run = run_cli([*args, "--login-url", MY_DOMAIN, "--audience", MY_DOMAIN], env)
    assert run.credential()["AccessToken"] in external_client_app.sessions
    assert proxy.requested_hosts == ["acme.my.salesforce.com:443"]
    (request,) = external_client_app.token_requests
    assert request.claims is not None and request.claims["aud"] == MY_DOMAIN


def test_app_not_found_with_my_domain_audience_points_at_the_installation(
    org: FaultyEmulator, env: dict[str, str], key: str, proxy: ConnectProxy
) -> None:
    body = {"error": "app_not_found", "error_description": "External client app is not installed"}
    org.canned_responses.append(CannedResponse(400, json.dumps(body).encode(), "application/json"))
    args = ["get", "--client-id", CLIENT_ID, "--username", USERNAME, "--key", key]
    run = run_cli([*args, "--login-url", MY_DOMAIN, "--audience", MY_DOMAIN], env)
    run.assert_failed(4, f"The audience sent was {MY_DOMAIN!r}", "--client-id", "installed")
