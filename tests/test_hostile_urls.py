"""Hostile login URLs and trusted-host entries, end to end: exit 2 and not one connection.

Each URL below is one that a policy reading hosts with ``urllib.parse`` and a client reading them
with urllib3 (WHATWG rules) could disagree on, or a form outside the strict host grammar. The
command runs with ``HTTP_PROXY`` and ``HTTPS_PROXY`` pointing at a recording proxy that forwards
nothing (tests/recording_proxy.py), and with a real key: code that let a URL through would sign an
assertion and send it through that proxy (or, for ``{tripwire}`` rows, straight to it), where the
test sees it. Every row is given from the flag, from the environment and from a profile.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import CLIENT_ID, USERNAME, Run, run_cli
from recording_proxy import RecordingProxy

#: ``{tripwire}`` stands for the recording proxy's own loopback address and port.
HOSTILE_LOGIN_URLS: list[tuple[str, str, list[str]]] = [
    # The authority ends at a backslash for urllib3, not for urllib.parse.
    ("backslash before a Salesforce suffix", "https://attacker.example\\.my.salesforce.com", []),
    ("backslash and at", "https://attacker.example\\@acme.my.salesforce.com", []),
    ("two backslashes", "https://attacker.example\\\\acme.my.salesforce.com", []),
    ("backslash, upper case", "HTTPS://ATTACKER.EXAMPLE\\.MY.SALESFORCE.COM", []),
    ("backslash before .localhost", "http://attacker.example\\.localhost", []),
    ("backslash and at localhost", "http://attacker.example\\@localhost", []),
    ("backslash and at 127.0.0.1", "http://attacker.example\\@127.0.0.1", []),
    ("backslash and at the tripwire", "http://attacker.example\\@{tripwire}", []),
    ("backslash after the port", "https://acme.my.salesforce.com:443\\@attacker.example", []),
    ("backslash in the path", "https://acme.my.salesforce.com/s\\..\\x", []),
    (
        "backslash before a trusted wildcard",
        "https://attacker.example\\.sso.acme.example",
        ["*.sso.acme.example"],
    ),
    (
        "backslash and at a trusted host",
        "https://attacker.example\\@sso.acme.example",
        ["sso.acme.example"],
    ),
    # Userinfo: whoever reads it as the host, it has no place in a login URL.
    ("userinfo", "https://attacker.example@acme.my.salesforce.com", []),
    ("userinfo with a password", "https://admin:hunter2@acme.my.salesforce.com", []),
    ("host as userinfo", "https://acme.my.salesforce.com@attacker.example", []),
    ("two at signs", "https://a@b@acme.my.salesforce.com", []),
    ("userinfo before a trusted host", "https://x@sso.acme.example", ["sso.acme.example"]),
    # Percent-encoding: decoded by some readers, not by others.
    ("encoded at", "https://attacker.example%40acme.my.salesforce.com", []),
    ("encoded slash", "https://attacker.example%2F.my.salesforce.com", []),
    ("encoded backslash", "https://attacker.example%5C.my.salesforce.com", []),
    ("encoded dot", "https://acme%2Emy.salesforce.com", []),
    ("encoded NUL", "https://attacker.example%00.my.salesforce.com", []),
    ("encoded dot segments", "http://{tripwire}/%2e%2e/", []),
    # Unicode: IDNA maps these dots and letters to ASCII ones, urllib.parse does not.
    ("ideographic full stop", "https://attacker.example\u3002my.salesforce.com", []),
    ("fullwidth full stop", "https://acme.my.salesforce\uff0ecom", []),
    ("halfwidth ideographic stop", "https://acme.my.salesforce\uff61com", []),
    ("fullwidth letter", "https://\uff41cme.my.salesforce.com", []),
    ("zero-width space", "https://acme.my.salesforce.com\u200b", []),
    ("Cyrillic look-alike", "https://\u0430cme.my.salesforce.com", []),
    # Characters urllib.parse removes or keeps in a host, that urllib3 reads otherwise.
    ("tab inside", "https://attacker.example\t.my.salesforce.com", []),
    ("newline inside", "https://acme.my.salesforce.com\n.attacker.example", []),
    ("space inside", "https://attacker.example .my.salesforce.com", []),
    ("semicolon", "https://attacker.example;.my.salesforce.com", []),
    ("underscore", "https://attacker_example.my.salesforce.com", []),
    ("query before the suffix", "https://attacker.example?.my.salesforce.com", []),
    ("fragment before the suffix", "https://attacker.example#.my.salesforce.com", []),
    # Ports.
    ("empty port", "https://acme.my.salesforce.com:", []),
    ("port zero", "https://acme.my.salesforce.com:0", []),
    ("port too large", "https://acme.my.salesforce.com:65536", []),
    ("signed port", "https://acme.my.salesforce.com:+443", []),
    ("two ports", "https://acme.my.salesforce.com:443:443", []),
    # IPv4 shorthands the C resolver accepts, and IPv6 forms.
    ("decimal IPv4", "http://2130706433", []),
    ("short IPv4", "http://127.1", []),
    ("octal IPv4", "http://0177.0.0.1", []),
    ("hex IPv4", "http://0x7f.0.0.1", []),
    ("numeric last label", "https://acme.my.salesforce.com.0x7f", []),
    ("IPv6 zone", "http://[::1%25lo]", []),
    ("IPv6 without brackets", "http://::1", []),
    ("IPv6 unclosed", "http://[::1", []),
    # Loopback by name: only localhost itself.
    ("a .localhost subdomain", "http://evil.localhost", []),
    ("localhost as a label", "http://localhost.attacker.example", []),
    # Scheme and shape.
    ("scheme without slashes", "https:attacker.example", []),
    ("scheme with one slash", "https:/attacker.example", []),
    ("scheme with backslashes", "https:\\\\attacker.example", []),
    ("no scheme", "//acme.my.salesforce.com", []),
    ("other scheme", "javascript://acme.my.salesforce.com", []),
    ("empty label", "https://acme..my.salesforce.com", []),
    ("leading hyphen", "https://-acme.my.salesforce.com", []),
    ("label over 63 characters", "https://" + "a" * 64 + ".my.salesforce.com", []),
    ("dot segments in the path", "https://acme.my.site.com/partners/../..", []),
]

#: Where a value comes from, and how the error line names that origin.
SOURCES = {
    "flag": "(from --login-url)",
    "environment": "(from SF_CREDPROC_LOGIN_URL)",
    "profile": "(from profile 'default' in",
}
TRUSTED_ORIGINS = {
    "flag": "(from --trusted-host)",
    "environment": "(from SF_CREDPROC_TRUSTED_HOSTS)",
    "profile": "(from profile 'default' in",
}


@pytest.fixture
def tripwire(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    """Every proxy variable points at a proxy that records and forwards nothing: in the command's
    environment, and in this process's (requests reads proxies from ``os.environ``)."""
    proxy = RecordingProxy().start()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env[name] = proxy.url
        monkeypatch.setenv(name, proxy.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield proxy
    proxy.stop()


def run(source: str, args: list[str], env: dict[str, str]) -> Run:
    return run_cli(args, env)


def configure(
    source: str, env: dict[str, str], login_url: str, trusted: list[str], key_file: Path
) -> list[str]:
    """The ``get`` arguments, with the login URL and trusted hosts given from ``source``."""
    args = ["get", "--client-id", CLIENT_ID, "--username", USERNAME, "--key", f"file:{key_file}"]
    if source == "flag":
        return [*args, "--login-url", login_url, *(f"--trusted-host={t}" for t in trusted)]
    if source == "environment":
        env["SF_CREDPROC_LOGIN_URL"] = login_url
        if trusted:
            env["SF_CREDPROC_TRUSTED_HOSTS"] = ",".join(trusted)
        return args
    # JSON strings are TOML basic strings: the same escapes for backslashes and control characters.
    config = Path(env["XDG_CONFIG_HOME"]) / "sf-credproc" / "config.toml"
    config.parent.mkdir(parents=True)
    lines = ["[profile.default]", f"login_url = {json.dumps(login_url)}"]
    if trusted:
        lines.append(f"trusted_hosts = {json.dumps(trusted)}")
    config.write_text("\n".join(lines) + "\n")
    return args


def assert_nothing_happened(tripwire: RecordingProxy, env: dict[str, str]) -> None:
    assert tripwire.connections == 0, tripwire.request_lines
    assert not (Path(env["XDG_CACHE_HOME"]) / "sf-credproc").exists()


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    ("login_url", "trusted"),
    [pytest.param(url, trusted, id=name) for name, url, trusted in HOSTILE_LOGIN_URLS],
)
def test_hostile_login_url_is_refused_before_any_connection(
    login_url: str,
    trusted: list[str],
    source: str,
    env: dict[str, str],
    key_file: Path,
    tripwire: RecordingProxy,
) -> None:
    login_url = login_url.replace("{tripwire}", tripwire.url.removeprefix("http://"))
    done = run(source, configure(source, env, login_url, trusted, key_file), env)
    done.assert_failed(2, "--login-url", SOURCES[source])
    assert "hunter2" not in done.stderr  # a password in userinfo is never echoed
    assert_nothing_happened(tripwire, env)


def test_there_are_at_least_thirty_hostile_login_urls() -> None:
    assert len(HOSTILE_LOGIN_URLS) >= 30


HOSTILE_TRUSTED_HOSTS = [
    ("*.com", "top-level domain"),
    ("*.localhost", "top-level domain"),
    ("*.co.uk", "public suffix co.uk"),
    ("*.github.io", "public suffix github.io"),
    ("*", "wildcard only as its first label"),
    ("*.", "not a host name"),
    ("*.*.acme.example", "wildcard only as its first label"),
    ("sso.*.acme.example", "wildcard only as its first label"),
    ("*sso.acme.example", "wildcard only as its first label"),
    ("*.10.0.0.1", "not an address"),
    ("*.[::1]", "not an address"),
    ("attacker.example\\.sso.acme.example", "not a host name"),
    ("attacker.example\\@sso.acme.example", "not a host name"),
    ("user@sso.acme.example", "not a host name"),
    ("sso%2eacme.example", "not a host name"),
    ("sso.acme.example:443", "not a host name"),
    ("https://sso.acme.example", "not a host name"),
    ("sso.acme.example/path", "not a host name"),
    ("sso..acme.example", "not a host name"),
    ("-sso.acme.example", "not a host name"),
    ("\uff53so.acme.example", "ASCII"),
    ("sso\u3002acme.example", "ASCII"),
    ("127.1", "canonical dotted-quad"),
    ("[fe80::1%25eth0]", "not an IPv6 address"),
]


@pytest.mark.parametrize("source", TRUSTED_ORIGINS)
@pytest.mark.parametrize(("entry", "why"), HOSTILE_TRUSTED_HOSTS)
def test_hostile_trusted_host_is_refused_before_any_connection(
    entry: str,
    why: str,
    source: str,
    env: dict[str, str],
    key_file: Path,
    tripwire: RecordingProxy,
) -> None:
    # The login URL itself is fine: the entry alone must stop the command.
    args = configure(source, env, "https://acme.my.salesforce.com", [entry], key_file)
    done = run(source, args, env)
    done.assert_failed(2, f"--trusted-host {entry!r}", TRUSTED_ORIGINS[source], why)
    assert_nothing_happened(tripwire, env)
