"""One strict grammar for host names, read the same way by the login URL policy and by urllib3.

``urllib.parse`` (RFC 3986) and urllib3 (which follows the WHATWG URL Standard here) disagree on
where an authority ends (``\\`` ends it for WHATWG), on percent-encoded and non-ASCII hosts (IDNA
maps ``。`` to ``.``), and on IPv4 shorthands that the C resolver accepts (``127.1``, ``0x7f.1``,
``2130706433``, ``010.0.0.1`` in octal). A policy that reads a host one way while the client that
connects reads it another approves one host and sends the assertion to another. So a host is
accepted only in the forms every reader agrees on:

- a name of LDH labels (letters, digits, hyphens; RFC 1123 section 2.1, RFC 5890 A-labels such as
  ``xn--...`` included), whose last label does not start with a digit (WHATWG reads such a host as
  an IPv4 address);
- an IPv4 address as four canonical decimal octets;
- an IPv6 address in brackets (RFC 3986 section 3.2.2), without a zone identifier.

Trusted-host entries (``--trusted-host``) use the same grammar, plus ``*.`` wildcards whose
remainder is a registrable name: never one label (``*.com``) and, when the optional
``publicsuffixlist`` package is installed, never a public suffix (``*.co.uk``, ``*.github.io``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: One LDH label (RFC 1123 section 2.1): 1 to 63 characters, no hyphen at either end.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
#: RFC 1035 section 2.3.4: 255 octets on the wire, so 253 characters written out.
MAX_HOST_LENGTH = 253
#: The only name that is loopback by definition and never asked of DNS (RFC 6761 section 6.3).
LOCALHOST = "localhost"

#: ``is_public_suffix(name) -> bool``: the Public Suffix List check, when it is available.
PublicSuffixCheck = Callable[[str], bool]


def canonical_host(text: str) -> str:
    """The canonical form of ``text``: lower case, no trailing dot; IPv6 compressed, without
    brackets. Raises ``ValueError`` saying what is wrong, in words fit for an error line."""
    if text.startswith("[") and text.endswith("]"):
        return _canonical_ipv6(text[1:-1])
    if not text.isascii() or not text.isprintable():
        raise ValueError("must be written in ASCII (an international name in its xn-- form)")
    name = text.lower()
    name = name[:-1] if name.endswith(".") else name
    if not name or len(name) > MAX_HOST_LENGTH:
        raise ValueError("is not a host name (empty, or longer than 253 characters)")
    labels = name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise ValueError(
            "is not a host name: only letters, digits, hyphens and dots (labels of 1 to 63 "
            "characters, no hyphen at either end), or an IP address, are accepted"
        )
    if labels[-1][0].isdigit():
        return _canonical_ipv4(name)
    return name


def _canonical_ipv4(name: str) -> str:
    import ipaddress

    try:
        address = ipaddress.IPv4Address(name)
    except ValueError:
        address = None
    if address is None or str(address) != name:
        # 127.1, 2130706433 and 010.0.0.1 all reach some address, but not every parser agrees on
        # which one: only the form they all read alike is accepted.
        raise ValueError(
            "is not a host name, and not an IPv4 address in its canonical dotted-quad form"
        )
    return name


def _canonical_ipv6(inner: str) -> str:
    import ipaddress

    # A zone (fe80::1%eth0) names an interface of this machine: it has no place in a login URL.
    if not inner or not all(c in "0123456789abcdefABCDEF:." for c in inner):
        raise ValueError("is not an IPv6 address (hex digits and colons, no zone)")
    try:
        return ipaddress.IPv6Address(inner).compressed
    except ValueError:
        raise ValueError("is not an IPv6 address (hex digits and colons, no zone)") from None


def host_in_url(host: str) -> str:
    """``host`` as written in a URL's authority: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1`` (``host`` in canonical form).

    Names under ``.localhost`` are not loopback here: only ``localhost`` itself is answered from
    the hosts file everywhere, while a resolver may send ``x.localhost`` to DNS.
    """
    if host == LOCALHOST:
        return True
    # Only the literal forms can be loopback; spare ordinary host names the ipaddress import.
    if not (host[:1].isdigit() or ":" in host):
        return False
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def canonical_trusted_host(entry: str, is_public_suffix: PublicSuffixCheck | None) -> str:
    """The canonical form of a ``--trusted-host`` entry: a host, or ``*.`` and a name.

    ``is_public_suffix`` is the Public Suffix List check (``None`` when the list is not
    installed: then only single-label remainders such as ``*.com`` are refused). Raises
    ``ValueError`` saying what is wrong.
    """
    if not entry.startswith("*."):
        if "*" in entry:
            raise ValueError("may have a wildcard only as its first label (*.example.com)")
        return canonical_host(entry)
    if "*" in entry[2:]:
        raise ValueError("may have a wildcard only as its first label (*.example.com)")
    remainder = canonical_host(entry[2:])
    if ":" in remainder or remainder.rsplit(".", 1)[-1][0].isdigit():
        raise ValueError("must name a domain after *. (*.example.com), not an address")
    if "." not in remainder:
        raise ValueError(
            f"would trust every host under the top-level domain .{remainder}; name a domain "
            "of your own, as in *.example.com"
        )
    if is_public_suffix is not None and is_public_suffix(remainder):
        raise ValueError(
            f"would trust every host under the public suffix {remainder} (Public Suffix List), "
            "where anyone can register a name; name a domain of your own, as in *.example.com"
        )
    return "*." + remainder


def load_public_suffix_check() -> PublicSuffixCheck | None:
    """``publicsuffixlist``'s check (the ``psl`` extra), or ``None`` when it is not installed.

    Imported only when a wildcard is configured: it reads a list of about 10,000 rules.
    """
    try:
        from publicsuffixlist import PublicSuffixList
    except ImportError:
        return None
    is_public: PublicSuffixCheck = PublicSuffixList().is_public
    return is_public


def matches_trusted_host(host: str, entry: str) -> bool:
    """True when canonical ``host`` is canonical ``entry``, or a subdomain of a ``*.`` entry."""
    if entry.startswith("*."):
        return host.endswith(entry[1:])
    return host == entry
