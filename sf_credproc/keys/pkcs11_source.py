"""``pkcs11:token=...;object=...`` (RFC 7512): a key that never leaves a PKCS#11 token; it signs.

Which module, and which PIN, with the URI's own attributes beating the settings:

- the module: ``?module-path=`` (RFC 7512, section 2.4), else ``--pkcs11-module`` /
  ``SF_CREDPROC_PKCS11_MODULE``; checked by ``pkcs11_module.check_module_path``. ``module-name``
  (section 2.4: a name "the consumer" resolves) is refused: looking a name up in library
  directories would load whatever is found there first, so the module is named by its path;
- the PIN: ``?pin-source=file:/PATH`` (section 2.4; a bare absolute path too, no other scheme),
  else ``--pkcs11-pin-file``, else ``SF_CREDPROC_PKCS11_PIN``; with none, the token is used without
  logging in if it allows that (no ``CKF_LOGIN_REQUIRED``), else exit 2. ``pin-value`` is refused
  by the URI parser (``config/pkcs11_uri.py``) wherever the URI comes from.

Nothing is opened until ``load_key``; the session it opens is closed by the command's clean-up.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..config.pkcs11_uri import parse_pkcs11_uri
from ..errors import ConfigError
from ..local_files import FileTooLargeError, NotRegularFileError, read_regular_file
from .pkcs11_key import Pkcs11RsaPrivateKey
from .pkcs11_module import MODULE_HINT, check_module_path, import_pkcs11
from .pkcs11_session import TokenSession

if TYPE_CHECKING:
    from ..config.key_uri import KeyUri
    from ..config.pkcs11_uri import Pkcs11Uri
    from .source import KeySourceContext

#: A PIN is a few characters (PKCS#11 bounds it by ulMaxPinLen, 255 at most on common tokens).
MAX_PIN_FILE_BYTES = 1024
PIN_SOURCE_HINT = "Use ?pin-source=file:/ABSOLUTE/PATH (a file holding the PIN alone)"


class Pkcs11KeySource:
    """A private key in a PKCS#11 token, named by an RFC 7512 URI."""

    def __init__(
        self, uri: KeyUri, context: KeySourceContext, *, hash_on_token: bool = True
    ) -> None:
        """``hash_on_token`` False always signs with ``CKM_RSA_PKCS`` over a DigestInfo
        (``pkcs11_key.py``), as for a token without ``CKM_SHA256_RSA_PKCS``."""
        self.uri = uri
        self.name = f"{uri.scheme}:{uri.target}"
        self.key: Pkcs11Uri = parse_pkcs11_uri(self.name, "--key")
        self._context = context
        self._hash_on_token = hash_on_token
        self._session: TokenSession | None = None
        self._module_path, self._module_origin = self._module()

    @classmethod
    def from_uri(
        cls, uri: KeyUri, context: KeySourceContext, *, hash_on_token: bool = True
    ) -> Pkcs11KeySource:
        return cls(uri, context, hash_on_token=hash_on_token)

    def __repr__(self) -> str:
        return f"Pkcs11KeySource({str(self.uri)!r})"

    def load_key(self) -> Pkcs11RsaPrivateKey:
        """The key in its token: the module loaded, the session opened and the key found now, so
        that a wrong PIN or a missing key fails here, before any assertion is built."""
        import_pkcs11()
        if self._session is None:
            path = check_module_path(self._module_path, self._module_origin)
            self._session = TokenSession(
                str(self.uri),
                self.key,
                path,
                self._pin(),
                deadline=self._context.deadline,
                cleanup=self._context.cleanup,
            )
        self._session.private_key()
        return Pkcs11RsaPrivateKey(str(self.uri), self._session, hash_on_token=self._hash_on_token)

    def _module(self) -> tuple[str, str]:
        """The module's path and where it was set: the URI first, then the settings."""
        if self.key.module_path is not None:
            return self.key.module_path, "the URI's module-path"
        if self.key.module_name is not None:
            raise ConfigError(
                f"{self.uri}: module-name is not resolved; the module is named by its path",
                hint="Replace module-name=NAME with module-path=/ABSOLUTE/PATH, or pass "
                "--pkcs11-module",
            )
        settings = self._context.settings
        if settings is not None and settings.pkcs11_module:
            origin = settings.origins.get("pkcs11_module", "--pkcs11-module")
            return settings.pkcs11_module, origin
        raise ConfigError(f"{self.uri}: no PKCS#11 module is named", hint=MODULE_HINT)

    def _pin(self) -> str | None:
        """The PIN: the URI's pin-source, else --pkcs11-pin-file, else SF_CREDPROC_PKCS11_PIN."""
        settings = self._context.settings
        if self.key.pin_source is not None:
            return _read_pin(_pin_source_path(self.key.pin_source), "the URI's pin-source")
        if settings is not None and settings.pkcs11_pin_file:
            return _read_pin(settings.pkcs11_pin_file, "--pkcs11-pin-file")
        if settings is not None and settings.pkcs11_pin:
            return settings.pkcs11_pin
        return None


def _pin_source_path(source: str) -> str:
    """The file of a ``pin-source``: ``file:/PATH``, ``file:///PATH`` or an absolute path."""
    path = source
    if source.startswith("file:"):
        path = source[len("file:") :]
        if path.startswith("//"):
            path = path[2:]  # file:///PATH: an empty authority (RFC 8089)
    elif ":" in source.split("/", 1)[0]:
        raise ConfigError(
            "the pkcs11: URI's pin-source is not a file: URI or a path", hint=PIN_SOURCE_HINT
        )
    if not os.path.isabs(path):
        raise ConfigError(
            "the pkcs11: URI's pin-source is not an absolute path", hint=PIN_SOURCE_HINT
        )
    return path


def _read_pin(path: str, origin: str) -> str:
    """The PIN in ``path``: a regular file (never a FIFO), one line, the newline dropped."""
    fix = "Put the PIN alone in a regular file readable by you (mode 0600)"
    try:
        data = read_regular_file(path, MAX_PIN_FILE_BYTES)
    except NotRegularFileError as error:
        raise ConfigError(f"the PIN file {path} ({origin}) {error}", hint=fix) from None
    except FileTooLargeError:
        raise ConfigError(
            f"the PIN file {path} ({origin}) is larger than {MAX_PIN_FILE_BYTES} bytes", hint=fix
        ) from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(f"the PIN file {path} ({origin}): {reason}", hint=fix) from None
    if data.endswith(b"\n"):
        data = data[:-1]
    if data.endswith(b"\r"):
        data = data[:-1]
    try:
        pin = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"the PIN file {path} ({origin}) is not UTF-8 text", hint=fix) from None
    if not pin or "\n" in pin:
        raise ConfigError(
            f"the PIN file {path} ({origin}) does not hold one line with the PIN", hint=fix
        )
    return pin
