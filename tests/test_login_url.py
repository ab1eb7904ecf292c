"""The login URL policy and the audience derived from it, as functions and end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from connect_proxy import ConnectProxy
from helpers import CLIENT_ID, USERNAME, run_cli

from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.errors import ConfigError
from sf_credproc.login_url import derive_audience, parse_login_url

ALLOWED = [
    ("https://login.salesforce.com", (), "https://login.salesforce.com"),
    ("https://LOGIN.Salesforce.com/", (), "https://login.salesforce.com"),
    ("https://login.salesforce.com:443", (), "https://login.salesforce.com"),
    ("https://acme.my.salesforce.com", (), "https://acme.my.salesforce.com"),
    ("https://acme.my.site.com/partners/", (), "https://acme.my.site.com/partners"),
    ("https://acme.lightning.force.com", (), "https://acme.lightning.force.com"),
    ("https://acme.my.salesforce.mil", (), "https://acme.my.salesforce.mil"),
    ("https://acme.my.sfcrmproducts.cn", (), "https://acme.my.sfcrmproducts.cn"),
    ("https://acme.cloudforce.com", (), "https://acme.cloudforce.com"),
    ("http://localhost:8443", (), "http://localhost:8443"),
    ("http://127.0.0.2:1234", (), "http://127.0.0.2:1234"),
    ("http://[::1]:1234", (), "http://[::1]:1234"),
    ("https://sso.acme.example", ("sso.acme.example",), "https://sso.acme.example"),
    ("https://eu.sso.acme.example", ("*.sso.acme.example",), "https://eu.sso.acme.example"),
]


@pytest.mark.parametrize(("url", "trusted", "base"), ALLOWED)
def test_allowed_login_urls(url: str, trusted: tuple[str, ...], base: str) -> None:
    assert parse_login_url(url, trusted, "test").base == base


REFUSED = [
    ("https://evil.example", ()),
    ("https://salesforce.com.evil.example", ()),
    ("https://notsalesforce.com", ()),
    ("http://acme.my.salesforce.com", ()),  # a bearer credential in clear text
    ("http://sso.acme.example", ("sso.acme.example",)),  # trust does not lift https
    ("https://sso.acme.example", ("*.sso.acme.example",)),  # the wildcard means subdomains
    ("https://10.0.0.1", ()),
    ("http://127.0.0.1.evil.example", ()),
]


@pytest.mark.parametrize(("url", "trusted"), REFUSED)
def test_refused_login_urls(url: str, trusted: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError):
        parse_login_url(url, trusted, "test")


AUDIENCES = [
    ("https://login.salesforce.com", "https://login.salesforce.com"),
    ("https://test.salesforce.com/", "https://test.salesforce.com"),
    ("https://acme.my.salesforce.com", "https://login.salesforce.com"),
    ("https://acme--dev.sandbox.my.salesforce.com", "https://test.salesforce.com"),
    ("https://acme.my.site.com/partners", "https://acme.my.site.com/partners"),
    ("https://partners.acme.example/", "https://partners.acme.example"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
]


@pytest.mark.parametrize(("url", "audience"), AUDIENCES)
def test_derived_audience(url: str, audience: str) -> None:
    login_url = parse_login_url(url, ("partners.acme.example",), "test")
    assert derive_audience(login_url) == audience


@pytest.fixture
def proxy(org: SalesforceEmulator, env: dict[str, str]) -> Iterator[ConnectProxy]:
    """Real host names, resolved by a loopback CONNECT proxy to the emulator."""
    port = int(org.url.rsplit(":", 1)[1])
    tunnel = ConnectProxy(port).start()
    env["HTTPS_PROXY"] = tunnel.url
    yield tunnel
    tunnel.stop()


E2E_AUDIENCES = [
    ("https://acme.my.salesforce.com", [], "https://login.salesforce.com", False),
    ("https://acme--dev.sandbox.my.salesforce.com", [], "https://test.salesforce.com", True),
    ("https://test.salesforce.com", [], "https://test.salesforce.com", True),
    (
        "https://partners.acme.example",
        ["--trusted-host", "partners.acme.example"],
        "https://partners.acme.example",
        False,
    ),
]


@pytest.mark.parametrize(("login_url", "extra", "audience", "sandbox"), E2E_AUDIENCES)
def test_audience_sent_to_the_token_endpoint(
    login_url: str,
    extra: list[str],
    audience: str,
    sandbox: bool,
    org: SalesforceEmulator,
    env: dict[str, str],
    key_file: Path,
    proxy: ConnectProxy,
) -> None:
    if sandbox:
        org.use_sandbox_audience()
    org.audiences.add("https://partners.acme.example")  # an Experience Cloud site of this org
    args = ["get", "--client-id", CLIENT_ID, "--username", USERNAME, "--key", f"file:{key_file}"]
    run = run_cli([*args, "--login-url", login_url, *extra], env)
    assert run.credential()["AccessToken"] in org.sessions
    host = login_url.split("//")[1]
    assert proxy.requested_hosts == [f"{host}:443"]
    (request,) = org.token_requests
    assert request.claims is not None and request.claims["aud"] == audience


def test_explicit_audience_wins(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, proxy: ConnectProxy
) -> None:
    args = ["get", "--client-id", CLIENT_ID, "--username", USERNAME, "--key", f"file:{key_file}"]
    login = ["--login-url", "https://acme.my.salesforce.com"]
    run = run_cli([*args, *login, "--audience", org.url], env)
    assert run.credential()["AccessToken"] in org.sessions
    claims = org.token_requests[0].claims
    assert claims is not None
    assert claims["aud"] == org.url


def test_untrusted_host_is_refused_before_the_key_is_touched(
    org: SalesforceEmulator, env: dict[str, str], proxy: ConnectProxy
) -> None:
    """The key source names a file that does not exist: reading it would fail with exit 3."""
    args = ["get", "--client-id", CLIENT_ID, "--username", USERNAME]
    run = run_cli(
        [*args, "--login-url", "https://partners.acme.example", "--key", "file:/nope"], env
    )
    run.assert_failed(2, "not a Salesforce domain", "--trusted-host partners.acme.example")
    assert proxy.requested_hosts == []
    assert org.token_requests == []
