"""The ``TokenCache`` port: where a command's credential is looked for, and kept after a login.

botocore's ``CachedCredentialFetcher`` and kubelogin's token cache in one seam: the cache decides
whether a login is needed, and the login itself is passed in as a callable, so no cache ever
calls back into the code that chose it. Adapters: ``NoTokenCache`` (``--no-cache``),
``FileTokenCache`` (``files.py``) and ``TieredTokenCache`` (``tiered.py``: the local files and the
DynamoDB tier, whose lease is the fleet-wide lock). ``compose.py`` picks one per command.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import NamedTuple, Protocol

from .. import log
from ..credential import Credential
from ..deadline import Deadline
from .identity import CacheIdentity


class LogIn(Protocol):
    """A login: key → assertion → exchange. Raises ``CredProcError`` when it fails.

    ``patient=False`` makes one attempt, without retries: a usable token is at hand (the
    advisory window), so a failure costs nothing but a kept token, and the next command tries
    again, rather than every command of a fleet retrying against a Salesforce that is down.
    """

    def __call__(self, *, patient: bool = True) -> Credential: ...


class RejectedToken(NamedTuple):
    """A token a consumer saw answered with 401 ``INVALID_SESSION_ID`` (``--rejected-sha256``):
    named by its SHA-256 only, so the token itself never travels on a command line."""

    #: 64 lower-case hexadecimal digits.
    sha256: str
    #: Asks Salesforce whether the token is dead: True (401/403), False (it answers: the 401 had
    #: another cause); raises ``TransientError`` when it cannot tell (``oauth/userinfo.py``).
    is_dead: Callable[[Credential], bool]

    def names(self, credential: Credential) -> bool:
        """True when ``credential`` holds the rejected token."""
        digest = hashlib.sha256(credential.access_token.encode("utf-8")).hexdigest()
        return hmac.compare_digest(digest, self.sha256)


class CacheRequest(NamedTuple):
    """What one command asks a cache for."""

    identity: CacheIdentity
    #: The advisory refresh window (``--min-ttl``), before this host's jitter (``disk.py``).
    min_ttl_seconds: int
    #: The mandatory refresh window (``--mandatory-ttl``).
    mandatory_ttl_seconds: int
    #: A token is served only while it ends no later than a session of this length started now.
    session_ttl_seconds: int
    #: Log in even if a fresh token is kept, and replace it (``--refresh``).
    refresh: bool
    #: The command's deadline: waiting for a lock or a lease ends with it.
    deadline: Deadline
    #: Compare and refresh: the token a consumer saw rejected, if any.
    rejected: RejectedToken | None = None


class Outcome(NamedTuple):
    """The credential to print, and where the cache keeps it (None when it is not kept)."""

    credential: Credential
    entry_path: str | None
    #: The entry's first line: names the token, for the fast path's index.
    entry_header: bytes = b""


class TokenCache(Protocol):
    """A fresh credential for a request: a kept one, or the one ``log_in`` obtains (once)."""

    def obtain(self, request: CacheRequest, log_in: LogIn) -> Outcome: ...


class NoTokenCache:
    """``--no-cache``: nothing is read or written; every command logs in."""

    def obtain(self, request: CacheRequest, log_in: LogIn) -> Outcome:
        log.info("cache", "cache: off (--no-cache)")
        return Outcome(log_in(), None)
