"""``obtain_credential``: the cache in front of the login. No printing, no exit codes.

Read the entry → fresh? done. Otherwise take the identity's lock, read again (another process may
just have logged in), and only then log in and save. So processes that start together cause one
login between them (kubelogin's get-token flow; botocore's JSONFileCache for the file handling).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import log
from .cache.files import CachedCredential, CacheIdentity, FileTokenCache
from .cache.freshness import outlives_session
from .clock import Clock
from .config.settings import Settings
from .deadline import Deadline

if TYPE_CHECKING:
    from .aws import AwsClients
    from .credential import Credential


@dataclass(frozen=True)
class Outcome:
    """The credential line to print, and where the cache keeps it (None with ``--no-cache``)."""

    credential_json: str
    entry_path: str | None
    from_cache: bool
    #: The entry's first line: names the token, for the fast path's index.
    entry_header: bytes = b""

    def __repr__(self) -> str:
        return f"Outcome(entry_path={self.entry_path!r}, from_cache={self.from_cache})"


def cache_identity(settings: Settings) -> CacheIdentity:
    return CacheIdentity(
        token_endpoint=settings.login_url.token_endpoint,
        audience=settings.audience,
        client_id=settings.client_id,
        username=settings.username,
    )


def obtain_credential(
    settings: Settings,
    *,
    clock: Clock,
    environ: Mapping[str, str],
) -> Outcome:
    """A fresh credential: from the cache when it has one, else from a single login."""
    deadline = Deadline(settings.timeout_seconds, clock)
    if settings.no_cache:
        log.info("cache", "cache: off (--no-cache)")
        return Outcome(log_in_lazily(settings, clock, deadline, environ).to_json(), None, False)

    cache = FileTokenCache(settings.cache_dir)
    identity = cache_identity(settings)
    if not settings.refresh:
        entry = cache.read(identity)
        if entry is not None and _servable(entry, settings, clock):
            log_cache_hit(entry.expiration, clock, f"cache: hit {entry.path}")
            return Outcome(entry.credential_json, entry.path, True, entry.header)
    log.info(
        "cache", f"cache: {'refresh forced' if settings.refresh else 'miss'}; waiting for the lock"
    )
    with cache.lock(identity, deadline):
        if not settings.refresh:
            entry = cache.read(identity)
            if entry is not None and _servable(entry, settings, clock):
                log_cache_hit(
                    entry.expiration,
                    clock,
                    f"cache: another process just logged in; using its token in {entry.path}",
                )
                return Outcome(entry.credential_json, entry.path, True, entry.header)
        if settings.shared_table:
            from .cache.tiered import through_shared_cache

            shared = through_shared_cache(
                settings, cache, identity, clock=clock, deadline=deadline, environ=environ
            )
            if shared is not None:
                return shared
        credential = log_in_lazily(settings, clock, deadline, environ)
        credential_json = credential.to_json()
        saved = cache.write(identity, credential_json, credential.expiration, credential.issued_at)
    log.info("cache", f"cache: saved {saved.path}")
    return Outcome(credential_json, saved.path, False, saved.header)


def _servable(entry: CachedCredential, settings: Settings, clock: Clock) -> bool:
    """The freshness rule (``freshness.is_fresh``), saying why a token on file is not served."""
    now = clock.time()
    if entry.is_fresh(now, settings.min_ttl_seconds, settings.session_ttl_seconds):
        return True
    if outlives_session(entry.expiration, now, settings.session_ttl_seconds):
        log.info(
            "cache",
            f"cache: the cached token expires {_utc(entry.expiration)}, later than --session-ttl "
            f"{settings.session_ttl_seconds} allows (it was obtained under a longer one); not served",
        )
    return False


def log_cache_hit(expiration: int, clock: Clock, what: str) -> None:
    """Say that the answer comes from a cache, and until when.

    A hit never touches the key: without this line a broken key setup hides behind a cached token.
    """
    left = int(expiration - clock.time())
    log.info(
        "cache",
        f"{what}: the answer comes from the cache, expiring {_utc(expiration)} (in {left} s); "
        "the key was not used (doctor or --refresh checks it)",
        expiration=_utc(expiration),
    )


def _utc(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def log_in_lazily(
    settings: Settings,
    clock: Clock,
    deadline: Deadline,
    environ: Mapping[str, str],
    aws: AwsClients | None = None,
) -> Credential:
    from .login import log_in  # boto3, requests, PyJWT and cryptography: only on a miss

    return log_in(settings, clock=clock, deadline=deadline, environ=environ, aws=aws)
