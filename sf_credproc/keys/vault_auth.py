"""The Vault token of a command, found in Vault's own order, and revoked if we logged in for it.

1. ``VAULT_TOKEN`` (as every Vault client reads it);
2. else the token file ``~/.vault-token``, which ``vault login`` writes and which Vault Agent's
   auto-auth "file" sink can keep fresh (Kubernetes, AWS, and every other auth method that way);
3. else AppRole (Vault API, "AppRole auth method", ``POST /v1/auth/:mount/login``): the role id
   from ``--vault-role-id``, the secret id from ``--vault-secret-id-file``, else
   ``SF_CREDPROC_VAULT_SECRET_ID`` (never a flag: argv is visible to every user of the machine).
   A role with ``bind_secret_id=false`` logs in with its role id alone.

A token obtained by AppRole is revoked when the command ends (``POST
/v1/auth/token/revoke-self``, run by the command's ``cleanup``), so a secret id never leaves a live
token behind; if the revocation cannot be made, the role's ``token_ttl`` bounds the token's life.
The token is looked up once per command and kept only in memory; no message, log line or repr
holds it, nor the secret id.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING

from .. import log
from ..config.options import VAULT_SECRET_ID_ENV, VAULT_TOKEN_ENV
from ..errors import ConfigError, CredProcError, KeySourceError, TransientError
from ..local_files import FileTooLargeError, NotRegularFileError, read_regular_file
from .vault_errors import VaultCall, explain_status, vault_errors_text
from .vault_http import VaultAddress, is_token_shaped, send

if TYPE_CHECKING:
    from ..config.settings import Settings
    from ..deadline import Deadline

TOKEN_FILE = ".vault-token"
#: Service tokens are under 100 characters and batch tokens a few hundred: a cap for files.
MAX_TOKEN_BYTES = 8192
DEFAULT_APPROLE_MOUNT = "approle"
_NO_TOKEN_HINT = (
    f"Set {VAULT_TOKEN_ENV}, or write the token to ~/{TOKEN_FILE} (vault login; Vault Agent's "
    f"file sink), or use AppRole: --vault-role-id with --vault-secret-id-file or "
    f"{VAULT_SECRET_ID_ENV}"
)
_MOUNT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/")


class VaultAuth:
    """Finds the command's token on first use and keeps it for the command's later calls (a
    retried signature reuses it); revokes it at ``cleanup`` when it came from AppRole."""

    def __init__(
        self,
        environ: Mapping[str, str],
        settings: Settings | None,
        cleanup: ExitStack,
    ) -> None:
        self._environ = environ
        self._settings = settings
        self._cleanup = cleanup
        self._token: str | None = None
        #: Where the token came from, for messages: ``VAULT_TOKEN``, ``~/.vault-token``, AppRole.
        self.origin: str | None = None

    def __repr__(self) -> str:
        return f"VaultAuth(origin={self.origin!r})"

    def token(self, address: VaultAddress, deadline: Deadline) -> str:
        """The token, found (or obtained by AppRole login) on the first call."""
        if self._token is None:
            self._token, self.origin = self._find(address, deadline)
        return self._token

    def _find(self, address: VaultAddress, deadline: Deadline) -> tuple[str, str]:
        token = self._environ.get(VAULT_TOKEN_ENV, "").strip()
        if token:
            if not is_token_shaped(token):
                raise ConfigError(
                    f"{VAULT_TOKEN_ENV} does not hold a Vault token (it has characters no token "
                    "has)",
                    hint=f"Set {VAULT_TOKEN_ENV} to the token alone",
                )
            return token, VAULT_TOKEN_ENV
        from_file = self._token_file()
        if from_file is not None:
            return from_file, f"~/{TOKEN_FILE}"
        settings = self._settings
        role_id = settings.vault_role_id if settings else None
        secret_id = self._secret_id()
        if role_id:
            mount = settings.vault_approle_mount if settings else DEFAULT_APPROLE_MOUNT
            token = self._log_in(address, deadline, _approle_mount(mount), role_id, secret_id)
            return token, f"AppRole login at auth/{mount}"
        if secret_id is not None:
            raise ConfigError(
                "a Vault AppRole secret id is set but no role id",
                hint="Pass --vault-role-id (or set SF_CREDPROC_VAULT_ROLE_ID)",
            )
        raise ConfigError("no Vault token was found", hint=_NO_TOKEN_HINT)

    def _token_file(self) -> str | None:
        """The token in ``$HOME/.vault-token``; None when there is no such file or it is empty."""
        home = self._environ.get("HOME") or os.path.expanduser("~")
        path = os.path.join(home, TOKEN_FILE)
        return _read_secret_file(path, f"the token file ~/{TOKEN_FILE}", missing_ok=True)

    def _secret_id(self) -> str | None:
        settings = self._settings
        if settings is None:
            return None
        if settings.vault_secret_id_file:
            return _read_secret_file(
                settings.vault_secret_id_file, "--vault-secret-id-file", missing_ok=False
            )
        return (settings.vault_secret_id or "").strip() or None

    def _log_in(
        self,
        address: VaultAddress,
        deadline: Deadline,
        mount: str,
        role_id: str,
        secret_id: str | None,
    ) -> str:
        call = VaultCall("POST", f"auth/{mount}/login", "update", f"AppRole login at auth/{mount}")
        body = {"role_id": role_id}
        if secret_id is not None:
            body["secret_id"] = secret_id
        answer = send(address, call.method, call.path, deadline=deadline, body=body)
        if answer.status == 400:
            # "invalid role or secret ID", "invalid secret id": refused credentials, not a bug.
            said = vault_errors_text(answer.document) or "no reason given"
            if any(value in said for value in (role_id, secret_id) if value):
                # Vault does not echo them; a proxy or a plugin in between might.
                said = "its reason not shown: it quotes the credentials"
            raise KeySourceError(
                f"Vault refused the AppRole login at auth/{mount} ({said}): a wrong role id or "
                "secret id, or a secret id that expired or was used up",
                hint="Check --vault-role-id and the secret id; issue a new secret id "
                f"(vault write -f auth/{mount}/role/ROLE/secret-id)",
            )
        if answer.status == 403:
            raise KeySourceError(
                f"Vault refused the AppRole login at auth/{mount} (HTTP 403)",
                hint=f"Check that AppRole is enabled at auth/{mount} (--vault-approle-mount) and "
                "that the secret id is used from an allowed address (secret_id_bound_cidrs)",
            )
        if not 200 <= answer.status < 300:
            raise explain_status(answer.status, answer.document, call, address.shown())
        auth = answer.document.get("auth") if isinstance(answer.document, dict) else None
        token = auth.get("client_token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not is_token_shaped(token):
            raise TransientError(
                f"Vault's answer to {call.shown} holds no client token", hint="Retry later"
            )
        # Registered before anything else can fail: the token must not outlive the command.
        self._cleanup.callback(_revoke, address, deadline, token, mount)
        log.info("key", f"logged in to Vault by AppRole at auth/{mount}", mount=mount)
        return token


def _approle_mount(mount: str) -> str:
    mount = mount.strip("/")
    segments = mount.split("/")
    if not mount or not set(mount) <= _MOUNT_CHARS or any(s in ("", ".", "..") for s in segments):
        raise ConfigError(
            "--vault-approle-mount is not a Vault mount path",
            hint="Give the path AppRole is enabled at, without auth/ (default approle)",
        )
    return mount


def _read_secret_file(path: str, what: str, *, missing_ok: bool) -> str | None:
    """The stripped contents of a small regular file holding a token or secret id; the error
    names the file, never its contents."""
    try:
        data = read_regular_file(path, MAX_TOKEN_BYTES)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise ConfigError(f"{what} names no file ({path})", hint="Fix the path") from None
    except (NotRegularFileError, FileTooLargeError) as error:
        raise ConfigError(f"{what} ({path}) {error}", hint="Point it at the file itself") from None
    except OSError as error:
        raise ConfigError(
            f"{what} ({path}) cannot be read ({error.strerror or type(error).__name__})",
            hint="Check the file's permissions",
        ) from None
    text = data.decode("utf-8", "replace").strip()
    if not text:
        return None
    if not is_token_shaped(text):
        raise ConfigError(
            f"{what} ({path}) holds more than one token or secret id",
            hint="Write the value alone in the file",
        )
    return text


def _revoke(address: VaultAddress, deadline: Deadline, token: str, mount: str) -> None:
    """Best effort, within what is left of the deadline; never fails the command."""
    bound = f"the AppRole role's token_ttl (auth/{mount}) bounds its life"
    try:
        if deadline.remaining() <= 0:
            log.warning("key", f"no time was left to revoke the Vault token from AppRole; {bound}")
            return
        answer = send(address, "POST", "auth/token/revoke-self", deadline=deadline, token=token)
    except CredProcError as error:
        log.warning(
            "key", f"the Vault token from AppRole could not be revoked ({error.message}); {bound}"
        )
        return
    if 200 <= answer.status < 300:
        log.info("key", "revoked the Vault token from AppRole")
    else:
        log.warning(
            "key",
            f"Vault answered HTTP {answer.status} to revoking the token from AppRole; {bound}",
        )
