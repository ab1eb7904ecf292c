"""One command's session with a PKCS#11 token: the token found, logged in, the private key found.

The token is chosen by the URI's ``token``, ``manufacturer``, ``serial``, ``model`` and
``slot-id`` (RFC 7512, section 2.3, matched against ``CK_TOKEN_INFO`` and the slot id); the key by
``object`` (``CKA_LABEL``) and ``id`` (``CKA_ID``) among objects of class ``CKO_PRIVATE_KEY``
(PKCS#11 v2.40, section 4.9). The session is opened on first use, kept for the command, and
closed (``C_Logout``, ``C_CloseSession``) by the command's clean-up; a device error drops it, so
that a retry opens a new one.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, CredProcError, InternalError, KeySourceError
from .pkcs11_module import (
    LoadedModule,
    acquire_module,
    import_pkcs11,
    release_module,
    translate_pkcs11_error,
)

if TYPE_CHECKING:
    from contextlib import ExitStack

    from ..config.pkcs11_uri import Pkcs11Uri
    from ..deadline import Deadline

NO_PIN_HINT = (
    "Give the token's PIN with ?pin-source=file:/PATH in the URI, --pkcs11-pin-file FILE or "
    "SF_CREDPROC_PKCS11_PIN"
)
_LIST_HINT = "List them with pkcs11-tool --module MODULE --list-token-slots"


class TokenSession:
    """The token and private key one ``pkcs11:`` URI names, in a session opened on first use."""

    def __init__(
        self,
        name: str,
        uri: Pkcs11Uri,
        module_path: str,
        pin: str | None,
        *,
        deadline: Deadline | None,
        cleanup: ExitStack,
    ) -> None:
        self.name = name
        self.where = f"through {module_path}"
        self._uri = uri
        self._module_path = module_path
        self._pin = pin
        self._deadline = deadline
        self._cleanup = cleanup
        self._module: LoadedModule | None = None
        self._session: Any = None
        self._key: Any = None
        self._mechanisms: frozenset[Any] = frozenset()
        self._registered = False
        self._ended = False

    def __repr__(self) -> str:
        return f"TokenSession({self.name!r})"

    def private_key(self) -> Any:
        if self._key is None:
            self._open()
        return self._key

    def signs_sha256(self) -> bool:
        return import_pkcs11().Mechanism.SHA256_RSA_PKCS in self._mechanisms

    def public_key_object(self) -> Any | None:
        pkcs11 = import_pkcs11()
        self.private_key()
        template = self._template(pkcs11.ObjectClass.PUBLIC_KEY)
        found = self._find(template)
        return found[0] if len(found) == 1 else None

    def failed(self) -> None:
        """After a device error: close what is left, and have the module initialised afresh."""
        if self._module is not None:
            self._module.stale = True
        self._close()

    def end(self) -> None:
        """The command is done with the key (registered with its clean-up)."""
        self._ended = True
        self._close()

    def _open(self) -> None:
        if self._ended:
            raise InternalError(
                f"{self.name} was used after its command ended", hint="This is a bug; report it"
            )
        pkcs11 = import_pkcs11()
        if self._deadline is not None:
            self._deadline.check("opening a session with the PKCS#11 token")
        self._module = acquire_module(self._module_path, self._deadline)
        if not self._registered:
            self._cleanup.callback(self.end)
            self._registered = True
        try:
            token = self._token(self._module.lib)
            self.where = f"{token.label!r} through {self._module_path}"
            self._mechanisms = frozenset(token.slot.get_mechanisms())
            if self._pin is None and token.flags & pkcs11.TokenFlag.LOGIN_REQUIRED:
                raise ConfigError(
                    f"{self.name}: the token {token.label!r} needs a PIN", hint=NO_PIN_HINT
                )
            self._session = token.open(user_pin=self._pin)
            self._key = self._private_key()
        except pkcs11.PKCS11Error as error:
            translated = translate_pkcs11_error(error, self.name)
            # A refused C_Login leaves the session C_OpenSession made; initialising the module
            # again closes it (python-pkcs11 does not close it).
            self.failed()
            raise translated from None
        except CredProcError:
            self._close()
            raise

    def _token(self, lib: Any) -> Any:
        """The one initialised token the URI's token attributes and ``slot-id`` match."""
        pkcs11 = import_pkcs11()
        uri = self._uri
        matches = []
        for slot in lib.get_slots(token_present=True):
            if uri.slot_id is not None and slot.slot_id != uri.slot_id:
                continue
            try:
                token = slot.get_token()
            except (pkcs11.TokenNotPresent, pkcs11.TokenNotRecognised):
                continue
            if not token.flags & pkcs11.TokenFlag.TOKEN_INITIALIZED:
                continue
            serial = token.serial.decode("ascii", "replace")
            wanted = (
                (uri.token, token.label),
                (uri.manufacturer, token.manufacturer_id),
                (uri.serial, serial),
                (uri.model, token.model),
            )
            if all(want is None or want == have for want, have in wanted):
                matches.append(token)
        if not matches:
            raise KeySourceError(
                f"{self.name}: no initialised PKCS#11 token matches in {self._module_path}",
                hint=f"Check token=, serial= and slot-id= against the module's tokens. {_LIST_HINT}",
            )
        if len(matches) > 1:
            raise KeySourceError(
                f"{self.name}: {len(matches)} PKCS#11 tokens match",
                hint="Name the token by token=LABEL, serial= or slot-id=",
            )
        return matches[0]

    def _private_key(self) -> Any:
        pkcs11 = import_pkcs11()
        found = self._find(self._template(pkcs11.ObjectClass.PRIVATE_KEY))
        if not found:
            login = "" if self._pin is not None else " (private keys show only after login)"
            raise KeySourceError(
                f"{self.name}: the token has no private key with that object= / id={login}",
                hint="Check the label and id: pkcs11-tool --module MODULE --login --list-objects",
            )
        if len(found) > 1:
            raise KeySourceError(
                f"{self.name}: several private keys match",
                hint="Name the key by id= (its CKA_ID) as well",
            )
        key = found[0]
        key_type = key[pkcs11.Attribute.KEY_TYPE]
        if key_type != pkcs11.KeyType.RSA:
            kind = getattr(key_type, "name", str(key_type))
            raise KeySourceError(
                f"{self.name} is not an RSA key (its key type is {kind})",
                hint="Generate an RSA key of 2048 bits or more inside the token (see "
                "hsm/README.md)",
            )
        return key

    def _template(self, object_class: Any) -> dict[Any, Any]:
        attribute = import_pkcs11().Attribute
        template: dict[Any, Any] = {attribute.CLASS: object_class}
        if self._uri.object_label is not None:
            template[attribute.LABEL] = self._uri.object_label
        if self._uri.object_id is not None:
            template[attribute.ID] = self._uri.object_id
        return template

    def _find(self, template: dict[Any, Any]) -> list[Any]:
        """Up to two matching objects: enough to tell none, one and several apart."""
        with contextlib.closing(self._session.get_objects(template)) as objects:
            return list(itertools.islice(objects, 2))

    def _close(self) -> None:
        session, module = self._session, self._module
        self._session = self._key = self._module = None
        try:
            if session is not None:
                with contextlib.suppress(import_pkcs11().PKCS11Error):
                    session.close()
        finally:
            if module is not None:
                release_module(module)
