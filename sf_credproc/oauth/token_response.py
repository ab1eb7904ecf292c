"""The fields of a successful token response, checked before anything is printed or cached.

Salesforce answers the JWT bearer grant (RFC 7523 section 2.1) with RFC 6749 section 5.1 JSON:
``access_token``, ``instance_url``, ``id``, ``token_type``, ``scope``, ``issued_at`` and
``signature`` (no ``expires_in``); only the first five are read (``IssuedAt`` is this machine's
clock, not Salesforce's ``issued_at``). Whatever comes back is printed in shapes other programs parse
(a JSON line, ``export`` lines, an ``Authorization:`` header line) and cached: a CR or LF in the
token would add a header line, a plain-http ``instance_url`` would make consumers send the token in
clear text. So an answer that breaks the contract is refused with ``SalesforceRefusedError``
(exit 4), like a 200 without a token; the values themselves are never quoted when they may be a
token, and only in escaped, shortened form when they are URLs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import urlsplit

from ..config.host_names import is_loopback_host
from ..errors import SalesforceRefusedError

#: The fields without which there is no credential (RFC 6749 section 5.1 plus Salesforce's).
REQUIRED_FIELDS = ("access_token", "instance_url", "id")
BROKEN_CONTRACT_HINT = (
    "Check that --login-url is a Salesforce login host and that no proxy in between rewrites "
    "its answers"
)


@dataclass(frozen=True)
class TokenResponse:
    """The fields of a successful token response that the credential needs."""

    access_token: str = field(repr=False)
    instance_url: str
    id_url: str
    token_type: str
    scope: str


def read_token_response(document: dict[str, Any], endpoint: str) -> TokenResponse:
    """The checked fields of a JSON 200 answer from ``endpoint``, or ``SalesforceRefusedError``."""
    missing = [name for name in REQUIRED_FIELDS if document.get(name) in (None, "")]
    if missing:
        _refuse(endpoint, f"without {', '.join(missing)}")
    for name in REQUIRED_FIELDS:
        _require_string(document, name, endpoint)
    token: str = document["access_token"]
    # The token goes into header lines and shell assignments: printable ASCII only (a space is
    # harmless there and consumers quote it). Never quote the value: it is a secret.
    if not all(" " <= char <= "~" for char in token):
        _refuse(endpoint, "with an access_token that holds a control or non-ASCII character")
    instance_url = _checked_url(document["instance_url"], "instance_url", endpoint)
    id_url = _checked_url(document["id"], "id", endpoint)
    return TokenResponse(
        access_token=token,
        instance_url=instance_url.rstrip("/"),
        id_url=id_url,
        token_type=_token_type(document, endpoint),
        scope=_scope(document, endpoint),
    )


def _refuse(endpoint: str, what: str) -> NoReturn:
    raise SalesforceRefusedError(f"{endpoint} answered HTTP 200 {what}", hint=BROKEN_CONTRACT_HINT)


def _require_string(document: dict[str, Any], name: str, endpoint: str) -> None:
    value = document.get(name)
    if not isinstance(value, str):
        _refuse(endpoint, f"with {name} of JSON type {json_type_name(value)}, not a string")


def json_type_name(value: object) -> str:
    """The JSON name of a parsed value's type (RFC 8259 section 3), for error messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string" if isinstance(value, str) else "null"


def _shown(text: str, limit: int = 80) -> str:
    """A server-chosen value made safe for one log line: escaped (``ascii``) and shortened."""
    shown = ascii(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def _checked_url(url: str, name: str, endpoint: str) -> str:
    """``url`` if it is an https URL (or http to loopback) with a host and no credentials.

    Consumers send the token to ``instance_url``: plain http to a remote host would expose it,
    and ``javascript:``, ``file:`` or ``https://user@host`` are not where an org lives.
    """
    if not all("!" <= char <= "~" for char in url):
        _refuse(endpoint, f"with an {name} that holds a space, control or non-ASCII character")
    if not _is_secure_url(url):
        _refuse(
            endpoint,
            f"with {name} {_shown(url)}, not an https URL of a host (plain http only to loopback)",
        )
    return url


def _is_secure_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # a malformed port raises ValueError
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    secure = scheme == "https" or (scheme == "http" and is_loopback_host(host))
    return (
        bool(host) and secure and "@" not in parts.netloc and not parts.query and not parts.fragment
    )


def _token_type(document: dict[str, Any], endpoint: str) -> str:
    """``Bearer`` (RFC 6749 section 7.1: case-insensitive), the only type consumers are told."""
    token_type = document.get("token_type")
    if token_type is None:
        return "Bearer"
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        shown = _shown(token_type) if isinstance(token_type, str) else json_type_name(token_type)
        _refuse(endpoint, f"with token_type {shown}, not Bearer")
    return "Bearer"


def _scope(document: dict[str, Any], endpoint: str) -> str:
    """Space-separated scope tokens: printable ASCII (RFC 6749 section 3.3), or absent."""
    scope = document.get("scope")
    if scope is None:
        return ""
    if not isinstance(scope, str):
        _refuse(endpoint, f"with scope of JSON type {json_type_name(scope)}, not a string")
    if not all(" " <= char <= "~" for char in scope):
        _refuse(endpoint, "with a scope that holds a control or non-ASCII character")
    return scope
