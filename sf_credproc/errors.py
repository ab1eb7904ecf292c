"""The exception tree, one class per documented exit code.

Every error carries a one-line ``message`` naming the problem, a ``hint`` naming the fix and
``retryable`` (may the same call succeed if simply repeated?). Neither text may contain a secret
(private key, passphrase, assertion, access token): messages are built from settings and server
error codes only, never from secret values.
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
    #: Ctrl-C (128 + SIGINT), as shells report it.
    INTERRUPTED = 130
    #: SIGTERM (128 + SIGTERM), as shells report it.
    TERMINATED = 143


class CredProcError(Exception):
    """Raised only as one of its subclasses: the base of every error sf-credproc raises on purpose."""

    exit_status: ExitStatus = ExitStatus.INTERNAL
    #: True when repeating the same call after a short backoff, with nothing changed, may succeed
    #: (a network failure, a 5xx, throttling); ``retry.py`` retries only these. The class sets the
    #: default; one instance may say otherwise (a passed deadline, the login rate limit: exit 5,
    #: "later", but not now).
    retryable: bool = False

    def __init__(
        self, message: str, *, hint: str | None = None, retryable: bool | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if retryable is not None:
            self.retryable = retryable

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


class TransientError(CredProcError):
    """Raised for failures that may clear by themselves: network, timeouts, 5xx, throttling."""

    exit_status = ExitStatus.TRANSIENT
    retryable = True


class LoginRateLimited(TransientError):
    """Raised when no login may be made for this user now because of Salesforce's login rate limit
    (3,600 logins per user per hour): exit 5, "later", and never retried at once. A still-valid
    cached token is served instead, even in the mandatory refresh window (``cache/refresh.py``)."""

    retryable = False


class LoginRateExceeded(LoginRateLimited):
    """Raised when Salesforce answers "login rate exceeded": the cool-down starts
    (``cache/cooldown.py``)."""


class CoolingDown(LoginRateLimited):
    """Raised instead of a login while a login-rate cool-down lasts: no request is made."""

    def __init__(self, message: str, *, seconds_left: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.seconds_left = seconds_left


class OutputClosedError(TransientError):
    """Raised when stdout is closed, or its reader has gone (a broken pipe), before the credential
    could be written. The token is cached by then, so running the command again succeeds."""


class SessionInvalidError(CredProcError):
    """Raised when Salesforce rejects a freshly obtained session too (401 ``INVALID_SESSION_ID``)."""

    exit_status = ExitStatus.REFUSED


class InternalError(CredProcError):
    """Raised on a path that only a bug in sf-credproc can reach (exit 1, "this is a bug")."""

    exit_status = ExitStatus.INTERNAL


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives, so that clean-up runs as for Ctrl-C."""
