"""Vault's answers that are not a success, as our errors and exit codes.

Vault API documentation, "HTTP API", "HTTP status codes": 400 invalid request, 403 forbidden
(a policy denies the path, or the token is expired, revoked or unknown: Vault says "permission
denied" either way), 404 unknown path, 405 unsupported operation, 412 precondition failed (a
replica not caught up yet), 429 rate limited, 473 performance standby, 500 internal error, 502
upstream error, 503 sealed or under maintenance. Error bodies are ``{"errors": ["..."]}``; only
those short strings are quoted, bounded and made printable, never more of a body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, CredProcError, KeySourceError, TransientError
from ..oauth.oauth_errors import untrusted_line

#: How much of Vault's own error strings a message quotes.
MAX_QUOTED = 160
#: 412: a replica has not caught up; 473: a performance standby; both pass in a moment.
_TRANSIENT_STATUSES = frozenset({412, 429, 473})


@dataclass(frozen=True)
class VaultCall:
    """What one request is about, for messages: the method and path (under ``/v1/``), the
    capability a policy must grant on it, and what it names (``Transit key transit/sf-jwt``)."""

    method: str
    path: str
    capability: str
    what: str

    @property
    def shown(self) -> str:
        return f"{self.method} /v1/{self.path}"


def vault_errors_text(document: Any) -> str:
    """Vault's ``errors`` strings as one bounded printable line ("" when there are none)."""
    if not isinstance(document, dict):
        return ""
    errors = document.get("errors")
    if not isinstance(errors, list):
        return ""
    text = "; ".join(e for e in errors if isinstance(e, str))
    # Vault wraps multierrors as "1 error occurred:\n\t* reason\n\n": keep the reason.
    text = text.replace("1 error occurred:", "")
    return untrusted_line(text.replace("*", " "), limit=MAX_QUOTED)


def explain_status(status: int, document: Any, call: VaultCall, where: str) -> CredProcError:
    """The error for an answer with ``status`` (not 2xx) to ``call``; ``where`` is the address."""
    said = vault_errors_text(document)
    quoted = f": {said}" if said else ""
    if status == 503 or (status >= 500 and "sealed" in said.lower()):
        if "sealed" in said.lower():
            return TransientError(
                f"Vault at {where} is sealed ({call.shown} answered HTTP {status})",
                hint="Ask Vault's operators to unseal it; retry later",
            )
        return TransientError(
            f"Vault at {where} is unavailable ({call.shown} answered HTTP {status}{quoted})",
            hint="Retry later; if it lasts, check that the node is active and unsealed",
        )
    if status >= 500 or status in _TRANSIENT_STATUSES:
        return TransientError(
            f"Vault at {where} answered HTTP {status} to {call.shown}{quoted}", hint="Retry later"
        )
    if 300 <= status < 400:
        # Never followed: the token would go to a host VAULT_ADDR does not name (a standby
        # redirects to the active node).
        return ConfigError(
            f"Vault at {where} answered {call.shown} with a redirect (HTTP {status})",
            hint="Point VAULT_ADDR at the active node or the cluster's load balancer",
        )
    if status == 403:
        return KeySourceError(
            f"permission denied on {call.shown} ({call.what})",
            hint=f"Grant {call.capability!r} on {call.path} in the token's policy; if the token "
            "may have expired or been revoked, get a new one (vault login, Vault Agent, or AppRole)",
        )
    if status == 404:
        return KeySourceError(
            f"Vault has no {call.what} ({call.shown} answered HTTP 404{quoted})",
            hint="Check the key URI: the mount, the name, and VAULT_NAMESPACE",
        )
    if status == 405:
        return ConfigError(
            f"Vault does not support {call.shown}{quoted}: is it the right kind of mount?",
            hint="Check the key URI's mount: transit: needs a Transit mount, vault: a KV v2 mount",
        )
    if status == 400:
        return ConfigError(
            f"Vault refused {call.shown} as invalid{quoted}",
            hint="Check the key URI, VAULT_NAMESPACE and the mount's secrets engine",
        )
    return KeySourceError(
        f"Vault refused {call.shown} (HTTP {status}{quoted})",
        hint="Check the key URI and the token's policy",
    )
