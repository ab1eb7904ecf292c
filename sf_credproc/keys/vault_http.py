"""One request to the Vault (or OpenBao) HTTP API: where Vault is, how to trust it, one attempt.

The connection follows Vault's own conventions (Vault documentation, "Commands (CLI)",
environment variables): ``VAULT_ADDR`` (default ``https://127.0.0.1:8200``, as the ``vault`` CLI),
``VAULT_NAMESPACE`` (the ``X-Vault-Namespace`` header), ``VAULT_CACERT`` (a PEM bundle) or
``VAULT_CAPATH`` (a directory of CA certificates). Unlike the CLI, TLS is always verified
(``VAULT_SKIP_VERIFY`` is not honoured), plain http is allowed only to a loopback host, and
redirects are never followed (a token must not travel to a host that ``VAULT_ADDR`` does not name).

Requests are made with requests directly, through ``http_call.request_within`` as requests to
Salesforce are: explicit proxies (https only), ``(connect, read)`` timeouts cut from the command's
deadline, a bounded body read, and ``from None`` on every requests exception (it keeps the request,
whose headers hold the Vault token and whose body may hold a secret id).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..config.host_names import canonical_host, host_in_url, is_loopback_host
from ..config.options import VAULT_ADDR_ENV, VAULT_CACERT_ENV, VAULT_CAPATH_ENV, VAULT_NAMESPACE_ENV
from ..deadline import Deadline
from ..errors import ConfigError, TransientError
from ..http_call import Peer, request_within

#: The ``vault`` CLI's default address.
DEFAULT_VAULT_ADDR = "https://127.0.0.1:8200"
USER_AGENT = f"sf-credproc/{__version__}"
#: A Transit key with a hundred RSA-4096 versions is about 100 KiB of public keys; far more is not
#: an answer of Vault's.
MAX_ANSWER_BYTES = 512 * 1024
_ADDR_HINT = (
    f"Set {VAULT_ADDR_ENV} to the server's address, https://HOST:PORT (plain http only to "
    "127.0.0.1, ::1 or localhost), without a path"
)


@dataclass(frozen=True)
class VaultAddress:
    """Where Vault is and how to trust it, read once per command from the environment."""

    #: ``scheme://host[:port]``, no trailing slash: what messages show.
    url: str
    #: requests' ``verify=``: a CA bundle file, a CA directory, or True (the system's store).
    verify: str | bool
    namespace: str | None = None

    def shown(self) -> str:
        """The address for messages, with the namespace when there is one."""
        return f"{self.url} (namespace {self.namespace})" if self.namespace else self.url


@dataclass(frozen=True)
class VaultAnswer:
    """Status and parsed JSON body (``None`` when empty or not JSON) of one answer."""

    status: int
    document: Any = field(repr=False)


def vault_address(environ: Mapping[str, str]) -> VaultAddress:
    """The Vault address of ``environ``, or ``ConfigError`` naming the variable to fix."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    text = environ.get(VAULT_ADDR_ENV, "").strip() or DEFAULT_VAULT_ADDR
    try:
        # urllib3 reads the URL as requests will connect to it: judge the host it will use.
        parsed = parse_url(text)
    except LocationParseError:
        raise ConfigError(f"{VAULT_ADDR_ENV} is not a URL", hint=_ADDR_HINT) from None
    if parsed.scheme not in ("http", "https"):
        raise ConfigError(f"{VAULT_ADDR_ENV} must be an http or https URL", hint=_ADDR_HINT)
    if parsed.auth is not None:
        # A user name or password in the URL would be sent nowhere useful and shown in messages.
        raise ConfigError(
            f"{VAULT_ADDR_ENV} must not hold a user name or password", hint=_ADDR_HINT
        )
    if (
        parsed.path not in (None, "", "/")
        or parsed.query is not None
        or parsed.fragment is not None
    ):
        raise ConfigError(f"{VAULT_ADDR_ENV} must have no path, query or fragment", hint=_ADDR_HINT)
    try:
        host = canonical_host(parsed.host or "")
    except ValueError as error:
        raise ConfigError(f"{VAULT_ADDR_ENV}'s host {error}", hint=_ADDR_HINT) from None
    if parsed.scheme == "http" and not is_loopback_host(host):
        raise ConfigError(
            f"{VAULT_ADDR_ENV} is plain http to {host}, which is not this machine: the token "
            "would cross the network unencrypted",
            hint=_ADDR_HINT,
        )
    port = f":{parsed.port}" if parsed.port is not None else ""
    url = f"{parsed.scheme}://{host_in_url(host)}{port}"
    namespace = environ.get(VAULT_NAMESPACE_ENV, "").strip().strip("/") or None
    if namespace is not None and not _is_header_safe(namespace):
        raise ConfigError(
            f"{VAULT_NAMESPACE_ENV} is not a Vault namespace path",
            hint="Set it to the namespace's path, for example team-a or team-a/child",
        )
    return VaultAddress(url, _verify(environ), namespace)


def _verify(environ: Mapping[str, str]) -> str | bool:
    """``VAULT_CACERT`` (a file), else ``VAULT_CAPATH`` (a directory), else the system's store."""
    cacert = environ.get(VAULT_CACERT_ENV, "").strip()
    if cacert:
        if not os.path.isfile(cacert):
            raise ConfigError(
                f"{VAULT_CACERT_ENV} names no readable file ({cacert})",
                hint=f"Point {VAULT_CACERT_ENV} at the PEM file of the CA that signed Vault's "
                "certificate",
            )
        return cacert
    capath = environ.get(VAULT_CAPATH_ENV, "").strip()
    if capath:
        if not os.path.isdir(capath):
            raise ConfigError(
                f"{VAULT_CAPATH_ENV} names no directory ({capath})",
                hint=f"Point {VAULT_CAPATH_ENV} at a directory of CA certificates (c_rehash "
                f"layout), or {VAULT_CACERT_ENV} at a PEM bundle",
            )
        return capath
    return True


def _is_header_safe(text: str) -> bool:
    """Printable ASCII without spaces: a header value that cannot split or inject a header."""
    return text.isascii() and text.isprintable() and " " not in text


def is_token_shaped(token: str) -> bool:
    """True when ``token`` can be sent as a header (Vault tokens are printable ASCII)."""
    return 0 < len(token) <= 4096 and _is_header_safe(token)


def send(
    address: VaultAddress,
    method: str,
    path: str,
    *,
    deadline: Deadline,
    token: str | None = None,
    body: Mapping[str, object] | None = None,
) -> VaultAnswer:
    """One ``method`` request to ``/v1/{path}``: every phase ends within the attempt's share of
    ``deadline`` (``http_call.request_within``). Transport failures are ``TransientError``
    (exit 5), an untrusted certificate ``ConfigError``; any status is returned, for the caller to
    explain."""
    url = f"{address.url}/v1/{path}"
    peer = Peer(
        f"Vault at {address.url}",
        untrusted_certificate_hint=f"Set {VAULT_CACERT_ENV} to the PEM file of the CA that signed "
        f"Vault's certificate (or {VAULT_CAPATH_ENV} to a directory of CA certificates)",
        unreachable_hint=f"Check that Vault is running and {VAULT_ADDR_ENV}, and the network or "
        "proxy",
    )
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if token is not None:
        headers["X-Vault-Token"] = token
    if address.namespace is not None:
        headers["X-Vault-Namespace"] = address.namespace
    if body is not None:
        headers["Content-Type"] = "application/json"
    answer = request_within(
        method,
        url,
        peer=peer,
        deadline=deadline,
        headers=headers,
        data=json.dumps(body).encode() if body is not None else None,
        verify=address.verify,
        proxies=_proxies_for(url),
        max_bytes=MAX_ANSWER_BYTES,
    )
    if len(answer.body) > MAX_ANSWER_BYTES:
        raise TransientError(f"{peer.name} sent an oversized answer", hint="Retry later")
    return VaultAnswer(answer.status, _json_or_none(answer.body))


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else None
    except (ValueError, RecursionError):
        # from nothing: the body may be a secret's; only its absence of shape matters.
        return None


def _proxies_for(url: str) -> dict[str, str]:
    """No proxy for loopback (a proxy's loopback is not ours); the environment's for https.

    ``vault_address`` already refused plain http to any other host.
    """
    import requests
    from urllib3.util import parse_url

    host = (parse_url(url).host or "").strip("[]")
    if is_loopback_host(host):
        return {}
    proxies: dict[str, str] = requests.utils.get_environ_proxies(url)
    return proxies
