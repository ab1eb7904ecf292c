"""The Vault (or OpenBao) client of the ``transit:`` and ``vault:`` key sources.

Vault's HTTP API is the documented contract, and the key sources need five of its calls (Transit
sign and read-key, KV v2 read, AppRole login, token revoke-self; plus token lookup-self to tell an
expired token from a policy that denies). They are made with requests directly rather than
through hvac: each call needs timeouts cut from the command's deadline, our TLS policy (always
verified, http only to loopback, no redirects) and our error mapping, none of which hvac changes,
and hvac would add a runtime dependency that wraps requests. ``vault_http.py`` is the transport,
``vault_auth.py`` finds the token, ``vault_errors.py`` turns statuses into exit codes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import CredProcError, InternalError, KeySourceError
from .vault_auth import VaultAuth
from .vault_errors import VaultCall, explain_status, vault_errors_text
from .vault_http import VaultAddress, send, vault_address

if TYPE_CHECKING:
    from ..deadline import Deadline
    from .source import KeySourceContext

#: Turns a failed answer (status, Vault's error text, the body) into a more precise error than
#: the status alone tells, or None to use the status's.
Explain = Callable[[int, str, Any], "CredProcError | None"]


class VaultClient:
    """Calls to one Vault server for one command, with the command's token and deadline."""

    def __init__(self, address: VaultAddress, auth: VaultAuth, deadline: Deadline) -> None:
        self.address = address
        self._auth = auth
        self._deadline = deadline

    @classmethod
    def from_context(cls, context: KeySourceContext) -> VaultClient:
        """The client of the command: the address is checked now (exit 2 before any call); the
        token is found on the first call."""
        if context.deadline is None:
            raise InternalError(
                "a Vault key source was opened without a deadline", hint="This is a bug; report it"
            )
        address = vault_address(context.environ)
        return cls(
            address, VaultAuth(context.environ, context.settings, context.cleanup), context.deadline
        )

    def __repr__(self) -> str:
        return f"VaultClient({self.address.shown()!r})"

    def call(
        self,
        call: VaultCall,
        body: Mapping[str, object] | None = None,
        explain: Explain | None = None,
    ) -> dict[str, Any]:
        """The ``data`` object of a successful answer to ``call``; else the error that says why
        (``explain`` first, then the status)."""
        self._deadline.check(f"calling Vault at {self.address.url}")
        token = self._auth.token(self.address, self._deadline)
        answer = send(
            self.address, call.method, call.path, deadline=self._deadline, token=token, body=body
        )
        document = answer.document
        if 200 <= answer.status < 300:
            data = document.get("data") if isinstance(document, dict) else None
            if not isinstance(data, dict):
                # A success without data: not the engine the URI says (a KV v1 mount takes a
                # Transit POST as a write), or a proxy's page.
                raise KeySourceError(
                    f"Vault's answer to {call.shown} holds no data: is {call.what} in a mount of "
                    "the right kind?",
                    hint="transit: keys need a Transit mount, vault: keys a KV version 2 mount",
                )
            return data
        said = vault_errors_text(document)
        if explain is not None:
            special = explain(answer.status, said, document)
            if special is not None:
                raise special
        if answer.status == 403:
            raise self._denied(call)
        raise explain_status(answer.status, document, call, self.address.shown())

    def _denied(self, call: VaultCall) -> CredProcError:
        """403: a policy that denies the path, or a token Vault no longer knows. A token's
        lookup-self (allowed by Vault's default policy) tells which."""
        origin = self._auth.origin or "the token"
        base = explain_status(403, None, call, self.address.shown())
        if origin.startswith("AppRole"):
            # Just issued: the role's policies deny the path.
            base.hint = f"Grant {call.capability!r} on {call.path} in the AppRole role's policies"
            return base
        try:
            answer = send(
                self.address,
                "GET",
                "auth/token/lookup-self",
                deadline=self._deadline,
                token=self._auth.token(self.address, self._deadline),
            )
        except CredProcError:
            return base
        if answer.status == 403:
            # Vault says "permission denied" for an unknown token too; a token without the
            # default policy may not look itself up either, so both remain possible.
            return KeySourceError(
                f"permission denied on {call.shown} ({call.what}): the token from {origin} has "
                "expired or was revoked, or its policies deny the path (and its own lookup)",
                hint="Get a new token (vault login, or let Vault Agent renew ~/.vault-token, or "
                f"use AppRole: --vault-role-id); if it is new, grant {call.capability!r} on "
                f"{call.path} in its policy",
            )
        if 200 <= answer.status < 300:
            # The token is alive: its policies deny the path.
            policies = _policies(answer.document)
            if policies:
                base.message += f"; the token from {origin} is valid, with the policies {policies}"
            base.hint = f"Grant {call.capability!r} on {call.path} in one of the token's policies"
        return base


def _policies(document: Any) -> str:
    """The token's policy names from a lookup-self answer (which also holds the token itself:
    nothing else of it is read)."""
    from ..oauth.oauth_errors import untrusted_line

    data = document.get("data") if isinstance(document, dict) else None
    names = data.get("policies") if isinstance(data, dict) else None
    if not isinstance(names, list):
        return ""
    return untrusted_line(", ".join(n for n in names if isinstance(n, str)), limit=120)
