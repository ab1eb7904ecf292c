"""The login URL policy and the audience derived from it, as functions and end to end."""

from __future__ import annotations

import functools
import ipaddress
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from connect_proxy import ConnectProxy
from helpers import CLIENT_ID, EMULATORS, USERNAME, pem_public, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recording_proxy import RecordingProxy
from urllib3.util import parse_url

from sf_credproc.config.host_names import (
    PublicSuffixCheck,
    canonical_trusted_host,
    load_public_suffix_check,
)
from sf_credproc.config.login_url import LoginUrl, derive_audience, parse_login_url
from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.errors import ConfigError

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
    # Canonical forms: the request URL is rebuilt from the validated parts.
    ("https://ACME.My.Salesforce.com.", (), "https://acme.my.salesforce.com"),
    ("https://acme.my.salesforce.com:0443/", (), "https://acme.my.salesforce.com"),
    ("HTTP://LocalHost:8443", (), "http://localhost:8443"),
    ("http://[0:0:0:0:0:0:0:1]:8080/", (), "http://[::1]:8080"),
    ("https://acme.my.site.com/partners/s/", (), "https://acme.my.site.com/partners/s"),
    (
        "https://xn--bcher-kva.acme.example",
        ("*.acme.example",),
        "https://xn--bcher-kva.acme.example",
    ),
    ("https://10.0.0.5:8443", ("10.0.0.5",), "https://10.0.0.5:8443"),
]


@pytest.mark.parametrize(("url", "trusted", "base"), ALLOWED)
def test_allowed_login_urls(url: str, trusted: tuple[str, ...], base: str) -> None:
    login = parse_login_url(url, trusted, "test")
    assert login.base == base
    assert_urllib3_reads_the_approved_host(url, login)


def canonical(host: str | None) -> str:
    """A host as urllib3 gives it, in the policy's canonical form (no brackets, no final dot)."""
    host = (host or "").lower().rstrip(".")
    if host.startswith("["):
        return ipaddress.IPv6Address(host[1:-1]).compressed
    return host


def assert_urllib3_reads_the_approved_host(text: str, login: LoginUrl) -> None:
    """The host and port the policy approved are the ones urllib3 (which connects) and requests
    (which prepares the request) read, from the text given and from every URL built from it."""
    default = {"https": 443, "http": 80}[login.scheme]
    prepared = requests.Request("POST", login.token_endpoint).prepare().url
    for url in (text.strip(), login.token_endpoint, login.revoke_endpoint, prepared or ""):
        parsed = parse_url(url)
        assert canonical(parsed.host) == login.host, url
        assert (parsed.port or default) == (login.port or default), url
        assert parsed.scheme is not None and parsed.scheme.lower() == login.scheme, url
        assert parsed.auth is None, url
    assert parse_url(login.token_endpoint).path == login.path + "/services/oauth2/token"


#: Labels of hosts the policy accepts, and pieces that URL parsers read differently.
LABELS = ["acme", "my", "salesforce", "com", "sso", "example", "localhost", "x1", "xn--p1ai", "A"]
TRICKY = [
    *["\\", "@", ":", "[", "]", "::1", "127.0.0.1", "0x7f", "2130706433", "_", ";", "-", "."],
    *["%2e", "%40", "%5c", "\u3002", "\uff0e", "\u0430", "\t", "\n", " ", "/", "?", "#", "%"],
]
TAILS = ["", "/", ":443", ":8443/x", ":0", "/s/", "/..", "\\@evil", "@evil", ".", ":"]
TRUSTED = ("*.example", "sso.example", "*.acme.example")


@st.composite
def login_urls(draw: st.DrawFn) -> str:
    """A URL of valid labels, often with a tricky piece or two spliced in anywhere."""
    scheme = draw(st.sampled_from(["https", "http", "HTTPS", "hTtP"]))
    host = ".".join(draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=4)))
    if draw(st.booleans()):
        host = draw(st.sampled_from(["127.0.0.1", "[::1]", "[0::1]", "10.0.0.1"]))
    text = f"{scheme}://{host}{draw(st.sampled_from(TAILS))}"
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(TRICKY)) + text[at:]
    return text


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(login_urls())
def test_an_approved_host_is_the_host_urllib3_connects_to(text: str) -> None:
    try:
        login = parse_login_url(text, TRUSTED, "test")
    except ConfigError:
        return
    assert_urllib3_reads_the_approved_host(text, login)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_no_text_makes_the_policy_and_urllib3_disagree(text: str) -> None:
    for candidate in (text, f"https://{text}", f"http://{text}"):
        try:
            login = parse_login_url(candidate, TRUSTED, "test")
        except ConfigError:
            continue
        assert_urllib3_reads_the_approved_host(candidate, login)


REFUSED = [
    ("https://evil.example", ()),
    ("https://salesforce.com.evil.example", ()),
    ("https://notsalesforce.com", ()),
    ("http://acme.my.salesforce.com", ()),  # a bearer credential in clear text
    ("http://sso.acme.example", ("sso.acme.example",)),  # trust does not lift https
    ("https://sso.acme.example", ("*.sso.acme.example",)),  # the wildcard means subdomains
    ("https://10.0.0.1", ()),
    ("http://127.0.0.1.evil.example", ()),
    ("https://attacker.example\\.my.salesforce.com", ()),
    ("http://attacker.example\\@localhost", ()),
    ("https://attacker.example\\.sso.acme.example", ("*.sso.acme.example",)),
    ("http://evil.localhost", ()),  # only localhost itself is loopback by name
    ("https://acme.my.salesforce.com/%2e%2e", ()),
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


@pytest.mark.parametrize(
    "url",
    [
        "https://admin:hunter2@acme.my.salesforce.com",
        "https:admin:hunter2@acme.my.salesforce.com",
        "https://admin:hunter2\\@acme.my.salesforce.com",
        "https://admin:hunter2@acme.my.salesforce.com/?x=1",
        "http://admin:hunter2@localhost:8443",
    ],
)
def test_a_password_in_the_login_url_is_never_echoed(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_login_url(url, (), "test")
    assert "hunter2" not in f"{raised.value} {raised.value.hint}"


TRUSTED_ENTRIES = [
    ("SSO.Acme.Example.", "sso.acme.example"),
    ("*.Acme.Example", "*.acme.example"),
    ("*.acme.co.uk", "*.acme.co.uk"),
    ("10.0.0.5", "10.0.0.5"),
    ("[2001:DB8:0:0::1]", "2001:db8::1"),
]


@pytest.mark.parametrize(("entry", "canonical_entry"), TRUSTED_ENTRIES)
def test_trusted_host_entries_in_canonical_form(entry: str, canonical_entry: str) -> None:
    assert canonical_trusted_host(entry, load_public_suffix_check()) == canonical_entry


@pytest.mark.parametrize("entry", ["*.co.uk", "*.github.io", "*.com.au"])
def test_public_suffix_wildcards_are_refused_with_the_list(entry: str) -> None:
    is_public_suffix = load_public_suffix_check()
    assert is_public_suffix is not None  # publicsuffixlist is in the test extra
    with pytest.raises(ValueError, match="public suffix"):
        canonical_trusted_host(entry, is_public_suffix)


def test_without_the_list_only_single_label_wildcards_are_refused() -> None:
    """The documented gap when the psl extra is not installed: the check is simply absent."""
    assert canonical_trusted_host("*.co.uk", None) == "*.co.uk"
    with pytest.raises(ValueError, match="top-level domain"):
        canonical_trusted_host("*.com", None)


def test_the_public_suffix_list_is_loaded_only_for_a_wildcard(tmp_path: Path) -> None:
    """Checked in a fresh interpreter: whether ``publicsuffixlist`` was imported."""
    probe = (
        "import sys\n"
        "from sf_credproc.config.settings import resolve_settings\n"
        "flags = {'client_id': 'c', 'username': 'u', 'key': 'env:K', 'trusted_hosts': [sys.argv[1]]}\n"
        "resolve_settings(flags, {'HOME': sys.argv[2], 'XDG_CONFIG_HOME': sys.argv[2]})\n"
        "print('publicsuffixlist' in sys.modules)\n"
    )
    loaded = {}
    for entry in ("sso.acme.example", "*.acme.example"):
        done = subprocess.run(
            [sys.executable, "-c", probe, entry, str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
        )
        loaded[entry] = done.stdout.strip()
    assert loaded == {"sso.acme.example": "False", "*.acme.example": "True"}


@pytest.fixture
def plain_org(app_key: object) -> Iterator[SalesforceEmulator]:
    """The emulator over plain http on loopback, where the policy allows it."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    assert isinstance(app_key, rsa.RSAPrivateKey)
    with SalesforceEmulator() as emulator:
        emulator.register_app(CLIENT_ID, pem_public(app_key))
        emulator.add_user(USERNAME, approve=[CLIENT_ID])
        EMULATORS.append(emulator)
        yield emulator
        EMULATORS.remove(emulator)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_plain_http_never_goes_through_the_environments_proxy(
    host: str, plain_org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    """HTTP_PROXY would see a plain-http assertion (and token) in clear: loopback goes direct."""
    tripwire = RecordingProxy().start()
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = tripwire.url
    login_url = plain_org.url.replace("127.0.0.1", host)
    plain_org.audiences.add(login_url)
    args = ["--client-id", CLIENT_ID, "--username", USERNAME, "--login-url", login_url]
    try:
        run = run_cli(["get", *args, "--key", f"file:{key_file}"], env)
        token = run.credential()["AccessToken"]
        logout = run_cli(["logout", *args], env)
    finally:
        tripwire.stop()
    assert logout.code == 0 and "revoked" in logout.stderr
    assert plain_org.token_request_count == 1 and plain_org.sessions[token].revoked
    assert tripwire.connections == 0, tripwire.request_lines


@pytest.mark.parametrize(
    "login_url",
    [
        "https://ACME.My.Salesforce.com.",
        "https://acme.my.salesforce.com:443/",
        "HTTPS://acme.MY.salesforce.com:0443",
    ],
)
def test_the_connection_goes_to_the_approved_host(
    login_url: str,
    org: SalesforceEmulator,
    env: dict[str, str],
    key_file: Path,
    proxy: ConnectProxy,
) -> None:
    """Spelled any accepted way, the host asked of the proxy is the canonical approved one."""
    args = ["get", "--client-id", CLIENT_ID, "--username", USERNAME, "--key", f"file:{key_file}"]
    run = run_cli([*args, "--login-url", login_url], env)
    assert run.credential()["AccessToken"] in org.sessions
    assert proxy.requested_hosts == ["acme.my.salesforce.com:443"]


@functools.cache
def public_suffix_check() -> PublicSuffixCheck | None:
    return load_public_suffix_check()  # read once: the list has about 10,000 rules


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=30),
        st.lists(st.sampled_from([*LABELS, *TRICKY, "*", "*."]), max_size=6).map("".join),
    )
)
def test_a_trusted_host_entry_is_a_plain_name_or_address(entry: str) -> None:
    """Whatever is accepted as an entry is made of the characters every URL parser agrees on."""
    try:
        accepted = canonical_trusted_host(entry, public_suffix_check())
    except ValueError:
        return
    name = accepted.removeprefix("*.")
    if ":" in name:
        assert ipaddress.IPv6Address(name).compressed == name
    else:
        assert all(c.isascii() and (c.isalnum() or c in ".-") for c in name)
        assert name == name.lower() and not name.endswith(".") and "*" not in name
