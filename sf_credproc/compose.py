"""The composition root: one command's settings become its deadline, AWS clients, key source,
login and token cache, built here and nowhere else (botocore's ``create_credential_resolver``).

``CredentialPipeline`` is built once per command and once per Python API object
(``get_credential`` call, ``SalesforceAuth`` instance); each ``obtain()`` starts a new deadline,
since ``--timeout`` bounds one attempt to get a credential, not the object's life. The token cache
is chosen once: none (``--no-cache``), the local files, or the local files and the shared tier.

A cache hit must stay cheap, so what only a miss needs is imported when a miss needs it: botocore
(through ``aws.py``), the login's requests, PyJWT and cryptography, the shared tier's client. And a
cold ``--no-cache`` run loads no token cache: the local files and the tiers load when chosen.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .cache.cooldown import LoginBreaker, SharedCoolDownStore
from .cache.identity import CacheIdentity
from .cache.port import CacheRequest, LogIn, NoTokenCache, Outcome, RejectedToken, TokenCache
from .cache.shared_errors import SharedCacheUnavailable
from .clock import Clock
from .config.settings import Settings
from .credential import Credential
from .deadline import Deadline
from .errors import ConfigError, LoginRateExceeded

if TYPE_CHECKING:
    from .aws import AwsClients
    from .cache.deadline_share import DeadlineShare
    from .cache.shared import DynamoDbSharedCache
    from .cache.shared_admin import SharedItemOfIdentity
    from .keys.source import KeySource

#: A lease outlives its holder's own deadline by this much: the holder either wrote or died.
LEASE_MARGIN_SECONDS = 5.0
#: The share of the deadline left that the shared cool-down record's calls may spend before a
#: login: a hung table leaves the login most of its time.
BREAKER_SHARE = 0.25


def cache_identity(settings: Settings) -> CacheIdentity:
    """Who the settings' token is for: the key of the local entry and of the shared item."""
    return CacheIdentity(
        token_endpoint=settings.login_url.token_endpoint,
        audience=settings.audience,
        client_id=settings.client_id,
        username=settings.username,
    )


class AwsSession:
    """The AWS clients of one pipeline: one boto3 session, created on the first miss that needs
    it, with timeouts cut from each command's deadline."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: AwsClients | None = None

    def clients(self, deadline: Deadline) -> AwsClients:
        from .aws import AwsClients  # botocore: only when AWS is called

        if self._clients is None:
            settings = self._settings
            self._clients = AwsClients(
                region=settings.region,
                profile=settings.aws_profile,
                deadline=deadline,
                fallback_region=settings.fallback_region,
            )
        return self._clients.cut_to(deadline)


@contextmanager
def open_key_source(
    settings: Settings,
    aws: AwsClients,
    environ: Mapping[str, str],
    *,
    deadline: Deadline,
    clock: Clock,
) -> Iterator[KeySource]:
    """The ``KeySource`` adapter for ``--key``, chosen once by its scheme, for the ``with`` block:
    AWS sources call through ``aws``; ``file:`` and ``env:`` read a PEM
    (``SF_CREDPROC_KEY_PASSPHRASE`` unlocks one); Vault, PKCS#11 and plugins call within
    ``deadline``. On leaving the block, what the adapter registered runs (a Vault token it logged
    in for is revoked, an HSM session closed)."""
    from .keys.registry import KeySourceRegistry  # cryptography: only on a miss
    from .keys.source import KeySourceContext

    if settings.key is None:
        raise ConfigError("--key is required", hint="Pass --key or set SF_CREDPROC_KEY")
    context = KeySourceContext(
        aws=aws,
        environ=environ,
        passphrase=settings.key_passphrase,
        deadline=deadline,
        clock=clock,
        settings=settings,
    )
    with context.cleanup:
        yield KeySourceRegistry().source_for(settings.key, context)


def shared_cache_of(settings: Settings, aws: AwsClients, clock: Clock) -> DynamoDbSharedCache:
    """The shared tier the settings name (``--shared-cache``, ``--shared-cache-key``); raises
    ``SharedCacheUnavailable`` when they do not name both."""
    from .cache.shared import DynamoDbSharedCache  # botocore

    table, key = settings.shared_table, settings.shared_key
    if table is None or key is None:
        raise SharedCacheUnavailable("--shared-cache and --shared-cache-key are not both set")
    return DynamoDbSharedCache(
        table,
        key.target,
        aws,
        clock,
        kms_region=key.region,
        lease_seconds=settings.timeout_seconds + LEASE_MARGIN_SECONDS,
    )


def shared_item_of(
    settings: Settings, identity: CacheIdentity, deadline: Deadline, clock: Clock
) -> SharedItemOfIdentity:
    """The identity's item in the shared tier, for ``logout`` and ``cache clear``, its calls
    within a share of ``deadline``."""
    from .cache.deadline_share import DeadlineShare
    from .cache.shared_admin import SharedItemOfIdentity

    share = DeadlineShare(deadline, clock)
    shared = shared_cache_of(settings, AwsSession(settings).clients(share), clock)
    return SharedItemOfIdentity(shared, identity, share)


class CredentialPipeline:
    """Settings → a fresh credential: the token cache in front of the login."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        environ: Mapping[str, str],
        host: str | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        #: The host name the refresh jitter derives from (``None``: this machine's); simulations
        #: of a fleet in one process give each simulated host its own.
        self._host = host
        self._environ = environ
        self._identity = cache_identity(settings)
        self._aws = AwsSession(settings)
        self.token_cache = self._token_cache()

    def obtain(
        self,
        *,
        refresh: bool | None = None,
        deadline: Deadline | None = None,
        rejected_sha256: str | None = None,
    ) -> Outcome:
        """A credential as the refresh windows allow, from the cache or a single login, within
        ``deadline`` (a new one by default: the command line passes the one its watchdog guards).
        ``refresh`` overrides the settings' ``--refresh``, ``rejected_sha256`` (checked hex)
        their ``--rejected-sha256``."""
        settings = self.settings
        deadline = deadline or Deadline(settings.timeout_seconds, self._clock)
        rejected = rejected_sha256 or settings.rejected_sha256
        request = CacheRequest(
            identity=self._identity,
            min_ttl_seconds=settings.min_ttl_seconds,
            mandatory_ttl_seconds=settings.mandatory_ttl_seconds,
            session_ttl_seconds=settings.session_ttl_seconds,
            refresh=settings.refresh if refresh is None else refresh,
            deadline=deadline,
            rejected=self._rejected(rejected, deadline) if rejected else None,
        )
        return self.token_cache.obtain(request, self._log_in_within(deadline))

    def _rejected(self, sha256: str, deadline: Deadline) -> RejectedToken:
        """The reported token, with the one check that may drop it: Salesforce's userinfo
        endpoint, asked once per token and command (both tiers may hold the same token)."""
        verdicts: dict[str, bool] = {}

        def is_dead(credential: Credential) -> bool:
            from .oauth.userinfo import confirm_dead  # requests: only when a token is reported

            token = credential.access_token
            if token not in verdicts:
                verdicts[token] = confirm_dead(
                    credential,
                    deadline=deadline,
                    ca_bundle=self.settings.ca_bundle,
                    clock=self._clock,
                )
            return verdicts[token]

        return RejectedToken(sha256, is_dead)

    def _token_cache(self) -> TokenCache:
        settings = self.settings
        if settings.no_cache:
            return NoTokenCache()
        from .cache.files import FileTokenCache
        from .cache.tiered import TieredTokenCache

        local = FileTokenCache(settings.cache_dir, self._clock, host=self._host)
        if settings.shared_table is None or settings.shared_key is None:
            return local

        def open_shared(share: DeadlineShare) -> DynamoDbSharedCache:
            return shared_cache_of(settings, self._aws.clients(share), self._clock)

        return TieredTokenCache(local, open_shared)

    def _log_in_within(self, deadline: Deadline) -> LogIn:
        """The login, behind the login-rate circuit breaker (``cache/cooldown.py``): during a
        cool-down it raises ``CoolingDown`` without a request; "login rate exceeded" starts one."""

        def log_in_now(*, patient: bool = True) -> Credential:
            from .login import log_in  # boto3, requests, PyJWT and cryptography: only on a miss
            from .retry import DEFAULT_POLICY, ONE_ATTEMPT

            breaker = login_breaker_of(self.settings, self._clock, deadline, self._aws)
            breaker.check()
            aws = self._aws.clients(deadline)
            try:
                with open_key_source(
                    self.settings, aws, self._environ, deadline=deadline, clock=self._clock
                ) as key_source:
                    return log_in(
                        self.settings,
                        key_source=key_source,
                        clock=self._clock,
                        deadline=deadline,
                        policy=DEFAULT_POLICY if patient else ONE_ATTEMPT,
                    )
            except LoginRateExceeded as error:
                cooldown = breaker.trip()
                if cooldown is not None:
                    error.hint = (
                        "The user exceeded 3,600 logins in an hour: retry after the cool-down, "
                        f"{breaker.cooldown_seconds} s (--rate-limit-cooldown) during which no "
                        "login is made for the user and a still-valid cached token is served; "
                        "'sf-credproc cache clear' ends it early"
                    )
                raise

        return log_in_now


def login_breaker_of(
    settings: Settings, clock: Clock, deadline: Deadline, aws: AwsSession | None = None
) -> LoginBreaker:
    """The login-rate circuit breaker of the settings' user at their token host: the record in
    the cache directory and, with a shared cache, the table's, read and written within a share of
    ``deadline`` (the breaker is not a token cache: ``--no-cache`` keeps it)."""
    open_shared = None
    if settings.shared_table is not None and settings.shared_key is not None:
        session = aws or AwsSession(settings)

        def open_shared() -> SharedCoolDownStore:
            from .cache.deadline_share import DeadlineShare
            from .cache.shared_cooldown import SharedCoolDowns

            share = DeadlineShare(deadline, clock, share=BREAKER_SHARE)
            return SharedCoolDowns(shared_cache_of(settings, session.clients(share), clock))

    return LoginBreaker(
        directory=settings.cache_dir,
        clock=clock,
        cooldown_seconds=settings.rate_limit_cooldown_seconds,
        token_endpoint=settings.login_url.token_endpoint,
        username=settings.username,
        open_shared=open_shared,
    )
