"""The emulator itself, as a client other than sf-credproc sees it (requests over HTTPS)."""

from __future__ import annotations

import http.client
import ssl
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import CLIENT_ID, USERNAME, get_args, pem_public, run_cli

from sf_credproc.emulator import SalesforceEmulator, salesforce_id

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def login(org: SalesforceEmulator, key: rsa.RSAPrivateKey, ca_bundle: str) -> dict[str, str]:
    claims = {"iss": CLIENT_ID, "sub": USERNAME, "aud": org.url, "exp": 4102444800}
    assertion = jwt.encode(claims, key, algorithm="RS256")
    response = requests.post(
        f"{org.url}/services/oauth2/token",
        data={"grant_type": GRANT, "assertion": assertion},
        verify=ca_bundle,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def test_token_response_has_salesforce_shape(
    org: SalesforceEmulator, app_key: rsa.RSAPrivateKey, ca_bundle: str
) -> None:
    body = login(org, app_key, ca_bundle)
    assert set(body) == {
        "access_token",
        "signature",
        "scope",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
    }
    assert "expires_in" not in body
    org15, _, opaque = body["access_token"].partition("!")
    assert org15 == org.org_id[:15] and opaque
    assert body["id"].endswith(f"/id/{org.org_id}/{org.users[USERNAME].user_id}")
    assert body["issued_at"].isdigit()


def test_userinfo_then_revoke(
    org: SalesforceEmulator, app_key: rsa.RSAPrivateKey, ca_bundle: str
) -> None:
    token = login(org, app_key, ca_bundle)["access_token"]
    userinfo = f"{org.url}/services/oauth2/userinfo"
    bearer = {"Authorization": f"Bearer {token}"}
    info = requests.get(userinfo, headers=bearer, verify=ca_bundle, timeout=10).json()
    assert info["user_id"] == org.users[USERNAME].user_id
    assert info["organization_id"] == org.org_id
    assert info["preferred_username"] == USERNAME
    revoke = requests.post(
        f"{org.url}/services/oauth2/revoke", data={"token": token}, verify=ca_bundle, timeout=10
    )
    assert (revoke.status_code, revoke.content) == (200, b"")
    after = requests.get(userinfo, headers=bearer, verify=ca_bundle, timeout=10)
    assert (after.status_code, after.text) == (403, "Bad_OAuth_Token")
    again = requests.post(
        f"{org.url}/services/oauth2/revoke", data={"token": token}, verify=ca_bundle, timeout=10
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"
    missing = requests.get(userinfo, verify=ca_bundle, timeout=10)
    assert missing.status_code == 401


def test_expired_session_is_refused(
    org: SalesforceEmulator, app_key: rsa.RSAPrivateKey, ca_bundle: str
) -> None:
    token = login(org, app_key, ca_bundle)["access_token"]
    session = org.sessions[token]
    org.clock = lambda: session.expires_at + 1
    try:
        after = requests.get(
            f"{org.url}/services/oauth2/userinfo",
            headers={"Authorization": f"Bearer {token}"},
            verify=ca_bundle,
            timeout=10,
        )
    finally:
        import time

        org.clock = time.time
    assert after.status_code == 403


def test_get_on_token_endpoint_and_wrong_content_type(
    org: SalesforceEmulator, ca_bundle: str
) -> None:
    url = f"{org.url}/services/oauth2/token"
    got = requests.get(url, verify=ca_bundle, timeout=10)
    assert got.status_code == 400 and got.json()["error"] == "invalid_request"
    as_json = requests.post(url, json={"grant_type": GRANT}, verify=ca_bundle, timeout=10)
    assert as_json.json() == {
        "error": "unsupported_grant_type",
        "error_description": "grant type not supported",
    }
    assert org.token_request_count == 2


def test_chunked_request_body(
    org: SalesforceEmulator, app_key: rsa.RSAPrivateKey, ca_bundle: str
) -> None:
    """Clients that stream bodies (Transfer-Encoding: chunked) are understood."""
    claims = {"iss": CLIENT_ID, "sub": USERNAME, "aud": org.url, "exp": 4102444800}
    body = f"grant_type={GRANT}&assertion={jwt.encode(claims, app_key, algorithm='RS256')}".encode()
    host, port = org.url.removeprefix("https://").split(":")
    connection = http.client.HTTPSConnection(
        host, int(port), context=ssl.create_default_context(cafile=ca_bundle), timeout=10
    )
    connection.request(
        "POST",
        "/services/oauth2/token",
        body=iter([body[:100], body[100:]]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        encode_chunked=True,
    )
    response = connection.getresponse()
    assert response.status == 200, response.read()
    connection.close()


def test_request_counts(org: SalesforceEmulator, env: dict[str, str], key_file: Path) -> None:
    for _ in range(3):
        run_cli(get_args(org, f"file:{key_file}", "--no-cache"), env).credential()
    assert org.token_request_count == 3
    assert len(org.sessions) == 3


def test_salesforce_ids_carry_a_valid_checksum() -> None:
    for prefix in ("00D", "005"):
        value = salesforce_id(prefix)
        assert len(value) == 18 and value.startswith(prefix)
        short = value[:15]
        for i, chunk in enumerate((short[0:5], short[5:10], short[10:15])):
            bits = sum(1 << j for j, char in enumerate(chunk) if char.isupper())
            assert value[15 + i] == "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]


def test_app_registered_with_an_x509_certificate(
    emulator_server: SalesforceEmulator,
    env: dict[str, str],
    key_file: Path,
    app_key: rsa.RSAPrivateKey,
) -> None:
    """Connected apps hold a certificate; the emulator verifies with the key inside it."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jwt-app")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(app_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(app_key, hashes.SHA256())
    )
    emulator_server.reset()
    emulator_server.register_app(CLIENT_ID, certificate.public_bytes(serialization.Encoding.PEM))
    emulator_server.add_user(USERNAME, approve=[CLIENT_ID])
    credential = run_cli(get_args(emulator_server, f"file:{key_file}"), env).credential()
    assert credential["AccessToken"] in emulator_server.sessions


@pytest.mark.parametrize(
    ("audience", "status", "error"),
    [
        ("https://login.salesforce.com", 400, "app_not_found"),
        ("https://test.salesforce.com", 400, "app_not_found"),
        ("https://acme.my.salesforce.com", 200, None),  # the org's My Domain URL
    ],
)
def test_external_client_app_refuses_the_legacy_login_hosts(
    audience: str,
    status: int,
    error: str | None,
    org: SalesforceEmulator,
    app_key: rsa.RSAPrivateKey,
    ca_bundle: str,
) -> None:
    org.register_app(CLIENT_ID, pem_public(app_key), external_client_app=True)
    org.audiences.update({"https://acme.my.salesforce.com", "https://test.salesforce.com"})
    claims = {"iss": CLIENT_ID, "sub": USERNAME, "aud": audience, "exp": 4102444800}
    response = requests.post(
        f"{org.url}/services/oauth2/token",
        data={"grant_type": GRANT, "assertion": jwt.encode(claims, app_key, algorithm="RS256")},
        verify=ca_bundle,
        timeout=10,
    )
    assert response.status_code == status, response.text
    if error:
        assert response.json() == {
            "error": error,
            "error_description": "External client app is not installed in this org",
        }
    else:
        assert response.json()["access_token"] in org.sessions


def token_answer(
    org: SalesforceEmulator, key: rsa.RSAPrivateKey, ca_bundle: str, **claims: object
) -> tuple[int, dict[str, str]]:
    """The emulator's status and body for an assertion with these claims (``exp`` among them)."""
    document = {"iss": CLIENT_ID, "sub": USERNAME, "aud": org.url, **claims}
    assertion = jwt.encode(document, key, algorithm="RS256")
    response = requests.post(
        f"{org.url}/services/oauth2/token",
        data={"grant_type": GRANT, "assertion": assertion},
        verify=ca_bundle,
        timeout=10,
    )
    body: dict[str, str] = response.json()
    return response.status_code, body


def test_a_quoted_numeric_exp_is_accepted_as_salesforce_does(
    org: SalesforceEmulator, app_key: rsa.RSAPrivateKey, ca_bundle: str
) -> None:
    status, body = token_answer(org, app_key, ca_bundle, exp="4102444800")
    assert status == 200, body
    assert body["access_token"]
    status, body = token_answer(org, app_key, ca_bundle, exp="1000000000")
    assert (status, body["error_description"]) == (400, "expired authorization code")


@pytest.mark.parametrize(
    "exp", [None, True, "", "4102444800.5", "soon", "-4102444800", " 4102444800"]
)
def test_an_exp_that_is_not_a_date_is_an_invalid_assertion(
    org: SalesforceEmulator, app_key: rsa.RSAPrivateKey, ca_bundle: str, exp: object
) -> None:
    claims = {} if exp is None else {"exp": exp}
    status, body = token_answer(org, app_key, ca_bundle, **claims)
    assert status == 400
    assert body == {"error": "invalid_grant", "error_description": "invalid assertion"}
