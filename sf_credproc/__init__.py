"""sf-credproc: Salesforce access tokens through the OAuth 2.0 JWT bearer flow, as an external
credential process, with the signing key held in AWS KMS, Secrets Manager or SSM Parameter Store.

The Python API (``get_credential``, ``SalesforceAuth``, ``Settings``, ``Credential`` and the
errors) is imported on first use: the command line's cache-hit path loads nothing it does not need.
"""

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "CredProcError",
    "Credential",
    "ExitStatus",
    "KeySourceError",
    "SalesforceAuth",
    "SalesforceRefusedError",
    "SessionInvalidError",
    "Settings",
    "TransientError",
    "get_credential",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .api import get_credential
    from .auth import SalesforceAuth
    from .config.settings import Settings
    from .credential import Credential
    from .errors import (
        ConfigError,
        CredProcError,
        ExitStatus,
        KeySourceError,
        SalesforceRefusedError,
        SessionInvalidError,
        TransientError,
    )

_HOMES = {
    "get_credential": "api",
    "SalesforceAuth": "auth",
    "Credential": "credential",
    "Settings": "config.settings",
    "ConfigError": "errors",
    "CredProcError": "errors",
    "ExitStatus": "errors",
    "KeySourceError": "errors",
    "SalesforceRefusedError": "errors",
    "SessionInvalidError": "errors",
    "TransientError": "errors",
}


def __getattr__(name: str) -> object:
    """Import the public API lazily (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sf_credproc' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{home}", __name__), name)
