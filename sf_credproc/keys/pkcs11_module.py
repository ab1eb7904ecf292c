"""The PKCS#11 module (the vendor's shared library): checked, loaded once per process, its errors
translated.

A module is native code loaded into this process, so its path must be absolute and name a regular
file owned by root or this user in a directory owned by root or this user, neither writable by
group or others: otherwise whoever can write it runs code as us, with the PIN in memory.

python-pkcs11 (an optional extra) keeps one ``lib`` per path for the life of the process and calls
``C_Initialize`` once (PKCS#11 v2.40, section 5.4: a second ``C_Initialize`` in a process fails
with ``CKR_CRYPTOKI_ALREADY_INITIALIZED``). That suits a command-line run, and a process that logs
in many times (the Python API's ``SalesforceAuth``) reuses the initialised module. It is initialised
with no arguments, which tells the module that it "won't be accessed by multiple threads
simultaneously" (section 5.4, ``C_Initialize``), so every use of a module holds its lock here, from
opening a session to closing it. After a device error the module is finalised and initialised
again on its next use, which also makes it look for tokens afresh.

PKCS#11 calls cannot be cancelled: for a network HSM that hangs inside one, the command's hard
deadline (``cli/watchdog.py``) fires a signal that interrupts the system call the module waits in,
and its exception ends the command as soon as the module's call returns (Python runs signal
handlers between bytecodes, never inside a C call).
"""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, CredProcError, KeySourceError, TransientError
from ..local_files import replaceable_by_others

if TYPE_CHECKING:
    from ..deadline import Deadline

MISSING_BINDING_HINT = "pip install 'sf-credproc[pkcs11]'"
MODULE_HINT = (
    "Name the module by its absolute path: ?module-path=/PATH in the pkcs11: URI, "
    "--pkcs11-module or SF_CREDPROC_PKCS11_MODULE"
)
#: PKCS#11 v2.40 return values that may clear by themselves: the device or its connection failed,
#: or the session was lost with it (sections 5.1 and 11.1).
TRANSIENT_ERRORS = (
    "DeviceError",
    "DeviceMemory",
    "DeviceRemoved",
    "FunctionFailed",
    "SessionClosed",
    "SessionCount",
    "SessionHandleInvalid",
)
_TOKEN_GONE = ("TokenNotPresent", "TokenNotRecognised", "SlotIDInvalid")


def import_pkcs11() -> ModuleType:
    """python-pkcs11, or exit 2 saying how to install it (it is an optional extra)."""
    try:
        import pkcs11
    except ImportError:
        raise ConfigError("pkcs11: keys need python-pkcs11", hint=MISSING_BINDING_HINT) from None
    return pkcs11


def check_module_path(path: str, origin: str) -> str:
    """``path`` if it is safe to load as code into this process, else ``ConfigError`` (exit 2)."""
    where = f"the PKCS#11 module {path} ({origin})"
    if not os.path.isabs(path):
        raise ConfigError(f"{where} is not an absolute path", hint=MODULE_HINT)
    try:
        info = os.stat(path)  # follows links: what is checked is what dlopen maps
    except OSError as error:
        raise ConfigError(
            f"{where}: {error.strerror or error}",
            hint="Check the path: it is the vendor's PKCS#11 library (a .so file)",
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{where} is not a regular file", hint=MODULE_HINT)
    _check_owner_and_mode(where, "file", info)
    directory = os.path.dirname(os.path.realpath(path))
    _check_owner_and_mode(f"{where}: its directory {directory}", "directory", os.stat(directory))
    return path


def _check_owner_and_mode(where: str, kind: str, info: os.stat_result) -> None:
    problem = replaceable_by_others(info)
    if problem:
        raise ConfigError(
            f"{where} is {problem}",
            hint=f"Load a module from a {kind} owned by root or by you that no one else can write "
            f"(chmod go-w): it is code run in this process, and whoever can replace it runs code "
            "as you",
        )


@dataclass
class LoadedModule:
    """One PKCS#11 module in this process: python-pkcs11's ``lib``, and the lock held while one
    command uses it."""

    path: str
    lib: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Set after a device error: finalise and initialise again before the next use.
    stale: bool = False


_modules: dict[str, LoadedModule] = {}
_modules_lock = threading.Lock()


def acquire_module(path: str, deadline: Deadline | None) -> LoadedModule:
    """The module at ``path`` (already checked), loaded and initialised, its lock held by the
    caller until ``release_module``. Waits for another thread's command at most until the
    deadline."""
    pkcs11 = import_pkcs11()
    with _modules_lock:
        module = _modules.get(path)
        if module is None:
            try:
                module = LoadedModule(path, pkcs11.lib(path))
            except pkcs11.PKCS11Error as error:
                raise ConfigError(
                    f"the PKCS#11 module {path} could not be loaded ({_reason(error)})",
                    hint="Check that it is the vendor's PKCS#11 library for this platform",
                ) from None
            _modules[path] = module
    wait = deadline.remaining() if deadline is not None else -1
    if not module.lock.acquire(timeout=wait):
        raise TransientError(
            f"the PKCS#11 module {path} stayed busy with another login in this process",
            hint="Retry later, or raise --timeout",
        )
    try:
        if module.stale:
            module.stale = False
            module.lib.reinitialize()
    except pkcs11.PKCS11Error as error:
        module.stale = True
        module.lock.release()
        raise translate_pkcs11_error(error, f"the PKCS#11 module {path}") from None
    return module


def release_module(module: LoadedModule) -> None:
    module.lock.release()


def translate_pkcs11_error(error: Exception, name: str) -> CredProcError:
    """A PKCS#11 error as our exit codes say it: 3 for the PIN or the key, 5 for the device.

    Named by python-pkcs11's exception classes, one per ``CKR_`` return value (PKCS#11 v2.40,
    section 11.1). Never the PIN: the messages are built from the error's kind alone.
    """
    kind = type(error).__name__
    if kind == "PinIncorrect":
        return KeySourceError(
            f"{name}: the PIN was refused",
            hint="Check the PIN (pin-source, --pkcs11-pin-file or SF_CREDPROC_PKCS11_PIN); "
            "repeated wrong PINs lock the token",
        )
    if kind in ("PinInvalid", "PinLenRange"):
        return KeySourceError(
            f"{name}: the PIN was refused as malformed (its characters or length)",
            hint="Check the PIN file: one line, the PIN alone",
        )
    if kind == "PinLocked":
        return KeySourceError(
            f"{name}: the token's user PIN is locked",
            hint="Have the token's security officer unlock or reset the user PIN",
        )
    if kind == "PinExpired":
        return KeySourceError(
            f"{name}: the token's user PIN has expired", hint="Set a new user PIN on the token"
        )
    if kind in _TOKEN_GONE:
        return KeySourceError(
            f"{name}: the token is not present", hint="Connect the token, or fix token= / slot-id="
        )
    if kind in TRANSIENT_ERRORS:
        return TransientError(
            f"{name}: the device failed ({kind})",
            hint="Retry; if it persists, check the HSM and its connection",
        )
    if kind in ("KeyFunctionNotPermitted", "KeyTypeInconsistent", "MechanismInvalid"):
        return KeySourceError(
            f"{name}: the token refused to sign with the key ({kind})",
            hint="Use an RSA private key with CKA_SIGN true (see hsm/README.md)",
        )
    return KeySourceError(
        f"{name}: the token refused ({_reason(error)})",
        hint="Check the token, the key and its attributes (see hsm/README.md)",
    )


def _reason(error: Exception) -> str:
    """The error's kind and text, one printable line (python-pkcs11's texts hold no secret)."""
    text = " ".join(str(error).split())
    kind = type(error).__name__
    shown = "".join(c for c in text if c.isprintable())[:200]
    return f"{kind}: {shown}" if shown else kind
