"""The exception tree, one class per documented exit code.

Every error carries a one-line ``message`` naming the problem and a ``hint`` naming the fix. Neither
may contain a secret (private key, passphrase, assertion, access token): messages are built from
settings and server error codes only, never from secret values.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """The process exit codes of ``sf-credproc`` (documented in the README and ``--help``)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    KEY_SOURCE = 3
    REFUSED = 4
    TRANSIENT = 5


class CredProcError(Exception):
    """Base of every error sf-credproc raises on purpose."""

    exit_status: ExitStatus = ExitStatus.INTERNAL
    #: True when the same call may succeed later without anyone changing configuration.
    retryable: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}. {self.hint}"
        return self.message


class ConfigError(CredProcError):
    """Raised when flags, environment variables or the config file are missing or malformed."""

    exit_status = ExitStatus.USAGE


class KeySourceError(CredProcError):
    """Raised when the signing key cannot be read or used (AWS errors, PEM problems)."""

    exit_status = ExitStatus.KEY_SOURCE


class SalesforceRefusedError(CredProcError):
    """Raised when Salesforce refuses the assertion until someone fixes the configuration."""

    exit_status = ExitStatus.REFUSED

    def __init__(self, message: str, *, hint: str | None = None, oauth_error: str = "") -> None:
        super().__init__(message, hint=hint)
        self.oauth_error = oauth_error


class TransientError(CredProcError):
    """Raised for failures that may clear by themselves: network, timeouts, 5xx, throttling."""

    exit_status = ExitStatus.TRANSIENT
    retryable = True

    def __init__(self, message: str, *, hint: str | None = None, retry_now: bool = True) -> None:
        super().__init__(message, hint=hint)
        #: False when retrying within this command cannot help (a deadline passed, the login rate
        #: limit was reached): the caller should try again later.
        self.retry_now = retry_now


class OutputClosedError(TransientError):
    """Raised when stdout is closed, or its reader has gone (a broken pipe), before the credential
    could be written. The token is cached by then, so running the command again succeeds."""


class SessionInvalidError(CredProcError):
    """Raised when Salesforce rejects a freshly obtained session too (401 ``INVALID_SESSION_ID``)."""

    exit_status = ExitStatus.REFUSED


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives, so that clean-up runs as for Ctrl-C."""
