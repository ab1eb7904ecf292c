"""``log_in``: key -> assertion -> exchange -> credential. Imported only on a cache miss.

This module pulls in PyJWT, cryptography and requests; nothing on the cache-hit path imports it. The
key is read through the ``KeySource`` the composition root chose (``compose.key_source_of``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import log
from .clock import Clock
from .config.settings import Settings
from .credential import Credential
from .deadline import Deadline
from .errors import ConfigError
from .log import fingerprint
from .oauth.assertion import build_claims, sign_assertion
from .oauth.exchange import ExchangeContext, TokenResponse, exchange_assertion
from .retry import DEFAULT_POLICY, RetryPolicy, call_with_retries

if TYPE_CHECKING:
    from .keys.source import KeySource


def log_in(
    settings: Settings,
    *,
    key_source: KeySource,
    clock: Clock,
    deadline: Deadline,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> Credential:
    """Log in with the JWT bearer flow and return the credential. Raises ``CredProcError``.

    Reading the key and the sign-and-exchange step are each retried on transient failures by
    ``policy`` (``retry.py``; ``ONE_ATTEMPT`` for a refresh a usable token backs); every exchange
    attempt signs a fresh assertion (new ``jti``, new ``exp``).
    """
    if settings.key is None:
        raise ConfigError("--key is required", hint="Pass --key or set SF_CREDPROC_KEY")
    key_uri = settings.key
    log.info(
        "key", f"key source {key_uri} (from {settings.origins.get('key', '?')})", key=str(key_uri)
    )
    key = call_with_retries(
        lambda attempt: key_source.load_key(),
        doing=f"reading {key_uri}",
        deadline=deadline,
        clock=clock,
        policy=policy,
    )
    context = ExchangeContext(
        token_endpoint=settings.login_url.token_endpoint,
        username=settings.username,
        client_id=settings.client_id,
        audience=settings.audience,
    )

    def attempt(number: int) -> tuple[TokenResponse, float]:
        claims = build_claims(
            client_id=settings.client_id,
            username=settings.username,
            audience=settings.audience,
            now=clock.time(),
        )
        deadline.check("signing the assertion")
        assertion = sign_assertion(key, claims)
        log.info(
            "assertion",
            f"attempt {number}: signed assertion iss={claims.iss} sub={claims.sub} aud={claims.aud} "
            f"exp=iat+{claims.exp - claims.iat}s jti={claims.jti}; POST {context.token_endpoint}",
            attempt=number,
            jti=claims.jti,
            audience=claims.aud,
        )
        sent_at = clock.time()
        response = exchange_assertion(
            assertion, context, deadline=deadline, ca_bundle=settings.ca_bundle, clock=clock
        )
        return response, sent_at

    response, sent_at = call_with_retries(
        attempt,
        doing=f"logging in at {context.token_endpoint}",
        deadline=deadline,
        clock=clock,
        policy=policy,
    )
    credential = Credential.from_token_response(
        response,
        username=settings.username,
        sent_at=sent_at,
        session_ttl_seconds=settings.session_ttl_seconds,
    )
    lifetime = credential.expiration - credential.issued_at
    # Shorter than --session-ttl only when the token is a JWT whose exp says so (credential.py).
    source = "--session-ttl" if lifetime == settings.session_ttl_seconds else "the token's own exp"
    log.info(
        "token",
        f"token {fingerprint(credential.access_token)} for {credential.instance_url}, "
        f"valid for {lifetime}s ({source})",
        token=fingerprint(credential.access_token),
        expiration=credential.expiration,
    )
    return credential
