"""The login URL policy and the JWT audience derived from it.

The signed assertion is a bearer credential (RFC 7523 section 3): whoever receives it can exchange it
for a session within its lifetime. So it is only ever sent over https to a Salesforce domain, to a host
the user explicitly trusts, or to loopback (where plain http is allowed for local emulators).

Audience rules follow Salesforce's "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration":
``aud`` is ``https://login.salesforce.com``, ``https://test.salesforce.com`` or an Experience Cloud site
URL, which is not necessarily the host the assertion is posted to (My Domain).

The URL is read strictly (``split_login_url``, with the host grammar of ``host_names``): whatever
``urllib.parse`` and urllib3 could read differently is refused, and every URL we request is built
from the validated parts, so the host the policy approves is the host urllib3 connects to.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..errors import ConfigError
from .host_names import canonical_host, host_in_url, is_loopback_host, matches_trusted_host
from .option import naming

PRODUCTION_AUDIENCE = "https://login.salesforce.com"
SANDBOX_AUDIENCE = "https://test.salesforce.com"
TOKEN_PATH = "/services/oauth2/token"
REVOKE_PATH = "/services/oauth2/revoke"

#: Domains Salesforce serves login and token endpoints from (commercial, government, China).
SALESFORCE_DOMAINS = (
    "salesforce.com",
    "force.com",
    "site.com",
    "cloudforce.com",
    "salesforce.mil",
    "sfcrmproducts.cn",
)

_DEFAULT_PORTS = {"https": 443, "http": 80}
#: A site path (Experience Cloud) is made of unreserved characters only (RFC 3986 section 2.3).
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+\Z")
_URL_HINT = "Use a URL such as https://login.salesforce.com or https://MYDOMAIN.my.salesforce.com"


class LoginUrl(NamedTuple):
    """A validated login URL, kept as its parts: every URL we request is built from them."""

    scheme: str
    #: Canonical (``host_names.canonical_host``): the host the policy approved.
    host: str
    #: None for the scheme's default port.
    port: int | None
    #: ``""`` or ``/segment[/segment...]``, without a trailing slash.
    path: str
    is_loopback: bool

    @property
    def base(self) -> str:
        """``scheme://host[:port][/path]``: the login URL as given, in canonical form."""
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host_in_url(self.host)}{port}{self.path}"

    @property
    def token_endpoint(self) -> str:
        return self.base + TOKEN_PATH

    @property
    def revoke_endpoint(self) -> str:
        return self.base + REVOKE_PATH


def is_salesforce_host(host: str) -> bool:
    """True when ``host`` is one of Salesforce's domains or a subdomain of one."""
    return any(host == d or host.endswith("." + d) for d in SALESFORCE_DOMAINS)


def is_trusted_host(host: str, trusted_hosts: tuple[str, ...]) -> bool:
    """True when ``host`` matches an entry exactly, or a ``*.example.com`` entry's subdomains.

    Entries are canonical (``settings`` validates them with ``canonical_trusted_host``).
    """
    return any(matches_trusted_host(host, entry) for entry in trusted_hosts)


def split_login_url(text: str) -> tuple[str, str, int | None, str]:
    """``(scheme, canonical host, port or None, path)`` of ``text``, read strictly.

    Raises ``ValueError`` saying what is wrong. Anything two URL parsers could read differently is
    refused rather than interpreted: backslashes, ``@`` (userinfo), percent-encoding, a query or a
    fragment, whitespace, control and non-ASCII characters.
    """
    scheme, separator, rest = text.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in _DEFAULT_PORTS:
        raise ValueError("is not an http(s) URL with a host")
    if not rest.isascii() or not rest.isprintable() or " " in rest:
        raise ValueError(
            "contains a space, a control or a non-ASCII character (write an international "
            "name in its xn-- form)"
        )
    if "\\" in rest:
        raise ValueError("contains a backslash, which some URL parsers read as a slash")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        raise ValueError("must not carry credentials (user@ or user:password@)")
    if "?" in rest or "#" in rest:
        raise ValueError("must not carry a query or a fragment")
    if "%" in rest:
        raise ValueError("must not contain percent-encoded characters")
    host, port = _split_authority(authority)
    return scheme, canonical_host(host), port, _site_path(slash + path)


def _split_authority(authority: str) -> tuple[str, int | None]:
    # The port, if any, follows the host's closing bracket (IPv6) or its first colon.
    end = authority.find("]") + 1 if authority.startswith("[") else 0
    colon = authority.find(":", end)
    host, port_text = (authority, "") if colon < 0 else (authority[:colon], authority[colon:])
    if not port_text:
        return host, None
    digits = port_text[1:]
    if port_text[0] != ":" or not digits.isdigit() or len(digits) > 5:
        raise ValueError("is not a URL with a valid port (1 to 65535)")
    port = int(digits)
    if not 0 < port < 65536:
        raise ValueError("is not a URL with a valid port (1 to 65535)")
    return host, port


def _site_path(path: str) -> str:
    """The path without its trailing slash; each segment of unreserved characters, no dot segments
    (urllib3 removes ``.`` and ``..``, so they would change the URL that is requested)."""
    path = path.rstrip("/")
    if not path:
        return ""
    for segment in path[1:].split("/"):
        if not _PATH_SEGMENT.match(segment) or segment in (".", ".."):
            raise ValueError(
                "has a path that is not letters, digits and - . _ ~ segments (such as /partners)"
            )
    return path


def _shown(text: str) -> str:
    """``text`` for an error line, with anything that may be userinfo (a password) masked."""
    if "@" not in text:
        return text
    scheme, separator, _ = text.partition("://")
    return f"{scheme + separator if separator else ''}***@{text[text.rindex('@') + 1 :]}"


def parse_login_url(
    text: str, trusted_hosts: tuple[str, ...], source: str, label: str = "--login-url"
) -> LoginUrl:
    """Validate ``text`` against the login URL policy, or raise ``ConfigError`` naming ``source``
    (``label``: how the setting is named, ``login_url=`` for a Python keyword argument)."""
    text = text.strip()
    try:
        scheme, host, port, path = split_login_url(text)
    except ValueError as error:
        raise ConfigError(
            f"{naming(label, repr(_shown(text)))} (from {source}) {error}", hint=_URL_HINT
        ) from None
    loopback = is_loopback_host(host)
    if scheme == "http" and not loopback:
        raise ConfigError(
            f"{naming(label, repr(text))} (from {source}) uses plain http to a remote host; the signed "
            "assertion is a bearer credential",
            hint="Use https (plain http is allowed only for localhost, 127.0.0.0/8 and [::1])",
        )
    if not (loopback or is_salesforce_host(host) or is_trusted_host(host, trusted_hosts)):
        raise ConfigError(
            f"{label.rstrip('=')} host {host!r} (from {source}) is not a Salesforce domain, and the signed "
            "assertion is only sent to Salesforce",
            hint=f"If {host} really is your Salesforce login host, pass --trusted-host {host}",
        )
    # https://host:443 and https://host are the same endpoint and must derive the same audience.
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    return LoginUrl(scheme, host, port, path, loopback)


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
