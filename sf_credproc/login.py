"""``log_in``: key -> assertion -> exchange -> credential. Imported only on a cache miss.

This module pulls in boto3, PyJWT, cryptography and requests; nothing on the cache-hit path imports it.
"""

from __future__ import annotations

from collections.abc import Mapping

from .assertion import build_claims, sign_assertion
from .aws import AwsClients
from .clock import Clock
from .credential import Credential
from .deadline import Deadline
from .errors import ConfigError
from .exchange import ExchangeContext, exchange_assertion
from .key_sources import load_signing_key
from .progress import Progress, fingerprint
from .settings import Settings


def log_in(
    settings: Settings,
    *,
    clock: Clock,
    deadline: Deadline,
    environ: Mapping[str, str],
    progress: Progress,
) -> Credential:
    """Log in with the JWT bearer flow and return the credential. Raises ``CredProcError``."""
    if settings.key is None:
        raise ConfigError("--key is required", hint="Pass --key or set SF_CREDPROC_KEY")
    aws = AwsClients(
        region=settings.region,
        profile=settings.aws_profile,
        deadline=deadline,
        fallback_region=settings.fallback_region,
    )
    progress.step(f"key source {settings.key} (from {settings.origins.get('key', '?')})")
    key = load_signing_key(
        settings.key, aws=aws, environ=environ, passphrase=settings.key_passphrase
    )

    claims = build_claims(
        client_id=settings.client_id,
        username=settings.username,
        audience=settings.audience,
        now=clock.time(),
    )
    deadline.check("signing the assertion")
    assertion = sign_assertion(key, claims)
    progress.step(
        f"signed assertion iss={claims.iss} sub={claims.sub} aud={claims.aud} "
        f"exp=iat+{claims.exp - claims.iat}s jti={claims.jti}"
    )

    context = ExchangeContext(
        token_endpoint=settings.login_url.token_endpoint,
        username=settings.username,
        client_id=settings.client_id,
        audience=settings.audience,
    )
    progress.step(f"POST {context.token_endpoint}")
    sent_at = clock.time()
    response = exchange_assertion(
        assertion,
        context,
        deadline=deadline,
        ca_bundle=settings.ca_bundle,
    )
    credential = Credential.from_token_response(
        response,
        username=settings.username,
        sent_at=sent_at,
        session_ttl_seconds=settings.session_ttl_seconds,
    )
    progress.step(
        f"token {fingerprint(credential.access_token)} for {credential.instance_url}, "
        f"valid for {settings.session_ttl_seconds}s (--session-ttl)"
    )
    return credential
