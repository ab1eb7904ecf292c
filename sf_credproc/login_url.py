"""The login URL policy and the JWT audience derived from it.

The signed assertion is a bearer credential (RFC 7523 section 3): whoever receives it can exchange it
for a session within its lifetime. So it is only ever sent over https to a Salesforce domain, to a host
the user explicitly trusts, or to loopback (where plain http is allowed for local emulators).

Audience rules follow Salesforce's "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration":
``aud`` is ``https://login.salesforce.com``, ``https://test.salesforce.com`` or an Experience Cloud site
URL, which is not necessarily the host the assertion is posted to (My Domain).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import ConfigError

PRODUCTION_AUDIENCE = "https://login.salesforce.com"
SANDBOX_AUDIENCE = "https://test.salesforce.com"
TOKEN_PATH = "/services/oauth2/token"

#: Domains Salesforce serves login and token endpoints from (commercial, government, China).
SALESFORCE_DOMAINS = (
    "salesforce.com",
    "force.com",
    "site.com",
    "cloudforce.com",
    "salesforce.mil",
    "sfcrmproducts.cn",
)


@dataclass(frozen=True)
class LoginUrl:
    """A validated login URL: scheme and host lower-cased, no trailing slash."""

    base: str
    host: str
    is_loopback: bool

    @property
    def token_endpoint(self) -> str:
        return self.base + TOKEN_PATH


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1``: addresses that never leave this machine."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    # Only the literal forms can be loopback; avoid importing ipaddress for ordinary host names.
    if not (host[:1].isdigit() or ":" in host):
        return False
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_salesforce_host(host: str) -> bool:
    """True when ``host`` is one of Salesforce's domains or a subdomain of one."""
    return any(host == d or host.endswith("." + d) for d in SALESFORCE_DOMAINS)


def is_trusted_host(host: str, trusted_hosts: tuple[str, ...]) -> bool:
    """True when ``host`` matches an entry exactly, or a ``*.example.com`` entry's subdomains."""
    for entry in trusted_hosts:
        entry = entry.lower().rstrip(".")
        if entry.startswith("*."):
            if host.endswith(entry[1:]):
                return True
        elif host == entry:
            return True
    return False


def parse_login_url(text: str, trusted_hosts: tuple[str, ...], source: str) -> LoginUrl:
    """Validate ``text`` against the login URL policy, or raise ``ConfigError`` naming ``source``."""
    try:
        parts = urlsplit(text.strip())
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:
        raise ConfigError(
            f"--login-url {text!r} (from {source}) is not a URL",
            hint="Use a URL such as https://login.salesforce.com or https://MYDOMAIN.my.salesforce.com",
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not host:
        raise ConfigError(
            f"--login-url {text!r} (from {source}) is not an http(s) URL with a host",
            hint="Use a URL such as https://login.salesforce.com or https://MYDOMAIN.my.salesforce.com",
        )
    if parts.username is not None or parts.query or parts.fragment:
        raise ConfigError(
            f"--login-url {text!r} (from {source}) must not carry credentials, a query or a fragment",
            hint="Give only scheme, host, optional port and optional site path",
        )
    loopback = is_loopback_host(host)
    if scheme == "http" and not loopback:
        raise ConfigError(
            f"--login-url {text!r} (from {source}) uses plain http to a remote host; the signed "
            "assertion is a bearer credential",
            hint="Use https (plain http is allowed only for localhost and 127.0.0.0/8)",
        )
    if not (loopback or is_salesforce_host(host) or is_trusted_host(host, trusted_hosts)):
        raise ConfigError(
            f"--login-url host {host!r} (from {source}) is not a Salesforce domain, and the signed "
            "assertion is only sent to Salesforce",
            hint=f"If {host} really is your Salesforce login host, pass --trusted-host {host}",
        )
    netloc = f"[{host}]" if ":" in host else host
    # https://host:443 and https://host are the same endpoint and must derive the same audience.
    if port is not None and (scheme, port) not in (("https", 443), ("http", 80)):
        netloc += f":{port}"
    base = f"{scheme}://{netloc}{parts.path.rstrip('/')}"
    return LoginUrl(base=base, host=host, is_loopback=loopback)


def derive_audience(login_url: LoginUrl) -> str:
    """The ``aud`` claim for a login URL when ``--audience`` is not given.

    One deterministic answer: never try several audiences, because each failed attempt is recorded
    as a failed login at Salesforce.
    """
    host = login_url.host
    if login_url.base in (PRODUCTION_AUDIENCE, SANDBOX_AUDIENCE):
        return login_url.base
    if host.endswith(".sandbox.my.salesforce.com"):
        return SANDBOX_AUDIENCE
    if host.endswith(".my.salesforce.com"):
        return PRODUCTION_AUDIENCE
    # Experience Cloud sites (and loopback emulators) are their own audience.
    return login_url.base
