"""Exchange a signed assertion at Salesforce's token endpoint (RFC 7523 section 2.1).

Success is RFC 6749 section 5.1 JSON without ``expires_in`` (Salesforce's session timeout decides the
lifetime); failure is RFC 6749 section 5.2 JSON (``error``, ``error_description``), usually HTTP 400.
Each Salesforce error is mapped to one line that says what to fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import __version__
from .clock import Clock
from .deadline import Deadline
from .errors import ConfigError, CredProcError, SalesforceRefusedError, TransientError

#: Sent with every request to Salesforce.
USER_AGENT = f"sf-credproc/{__version__}"
JWT_BEARER_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: A token response is well under a kilobyte; refuse to buffer a runaway body.
MAX_RESPONSE_BYTES = 256 * 1024


@dataclass(frozen=True)
class TokenResponse:
    """The fields of a successful token response that the credential needs."""

    access_token: str = field(repr=False)
    instance_url: str
    id_url: str
    token_type: str
    scope: str
    issued_at_ms: int | None


@dataclass(frozen=True)
class ExchangeContext:
    """What error messages may name: the endpoint, the user, the app and the audience sent."""

    token_endpoint: str
    username: str
    client_id: str
    audience: str


@dataclass(frozen=True)
class HttpAnswer:
    """Status, content type and (bounded) body of one answer from Salesforce."""

    status: int
    content_type: str | None
    body: bytes = field(repr=False)
    date: str | None = None


def post_form(
    url: str,
    form: dict[str, str] | None,
    *,
    deadline: Deadline,
    ca_bundle: str | None,
    user_agent: str = USER_AGENT,
    method: str = "POST",
) -> HttpAnswer:
    """POST ``form`` (``application/x-www-form-urlencoded``) to ``url``: one attempt, whose
    connect, TLS, header and body phases all end within the attempt's share of the deadline.

    ``method="GET"`` with no form serves ``doctor``'s look at the server's clock.
    """
    import requests

    proxies = _proxies_for(url)
    connect, read = deadline.http_timeouts(f"calling {url}")
    give_up_at = deadline.now() + read
    try:
        # As requests.request does, but proxies are the ones chosen above, never requests' own
        # pick from the environment; nor is ~/.netrc consulted.
        with requests.Session() as session:
            session.trust_env = False
            response = session.request(
                method,
                url,
                data=form,
                headers={"Accept": "application/json", "User-Agent": user_agent},
                timeout=(connect, read),
                # TLS verification is never turned off; a custom CA bundle may replace the default.
                verify=ca_bundle or True,
                allow_redirects=False,
                stream=True,
                proxies=proxies,
            )
    except requests.exceptions.SSLError as error:
        if _is_verification_failure(error):
            # Not transient: retrying will not make an untrusted certificate trusted.
            raise ConfigError(
                f"the TLS certificate of {url} could not be verified",
                hint="If a TLS-inspecting proxy or private CA is in the way, point "
                "REQUESTS_CA_BUNDLE at its CA bundle",
            ) from None
        raise TransientError(
            f"the TLS handshake with {url} failed ({_reason(error)})", hint="Retry later"
        ) from None
    except requests.exceptions.Timeout:
        raise TransientError(
            f"{url} did not answer within {read:.1f} s", hint="Retry later, or raise --timeout"
        ) from None
    except (requests.exceptions.RequestException, OSError) as error:
        raise TransientError(
            f"could not reach {url} ({type(error).__name__})",
            hint="Check the network, proxy settings and --login-url",
        ) from None
    try:
        body = _read_bounded(response, lambda: deadline.now() > give_up_at)
    except (requests.exceptions.RequestException, OSError) as error:
        raise TransientError(
            f"the answer from {url} was cut short ({type(error).__name__})", hint="Retry later"
        ) from None
    except TimeoutError:
        raise TransientError(
            f"{url} sent its answer too slowly (more than {read:.1f} s)", hint="Retry later"
        ) from None
    return HttpAnswer(
        response.status_code,
        response.headers.get("Content-Type"),
        body,
        response.headers.get("Date"),
    )


def _proxies_for(url: str) -> dict[str, str]:
    """The proxies to reach ``url`` through, as urllib3 will read its host.

    None for loopback: a proxy's loopback is not this machine's, and a plain-http assertion must
    never cross a proxy (``HTTP_PROXY``). Otherwise the environment's (``HTTPS_PROXY``,
    ``NO_PROXY``), for https only: plain http to a remote host is refused here too, whatever
    built the URL.
    """
    import requests
    from urllib3.util import parse_url

    from .host_names import is_loopback_host

    target = parse_url(url)
    if is_loopback_host((target.host or "").strip("[]")):
        return {}
    if target.scheme != "https":
        raise ConfigError(
            f"refusing to send a request to {target.host} over {target.scheme}",
            hint="Use an https login URL (plain http is allowed only for loopback)",
        )
    proxies: dict[str, str] = requests.utils.get_environ_proxies(url)
    return proxies


def _is_verification_failure(error: Exception) -> bool:
    text = str(error).lower()
    return "certificate verify failed" in text or ("hostname" in text and "match" in text)


def _reason(error: Exception) -> str:
    text = str(error).lower()
    if "timed out" in text:
        return "timed out"
    if "reset" in text or "eof" in text:
        return "the connection was closed"
    return type(error).__name__


def exchange_assertion(
    assertion: str,
    context: ExchangeContext,
    *,
    deadline: Deadline,
    ca_bundle: str | None,
    user_agent: str = USER_AGENT,
    clock: Clock | None = None,
) -> TokenResponse:
    """POST ``assertion`` to the token endpoint and return the parsed success response."""
    answer = post_form(
        context.token_endpoint,
        {"grant_type": JWT_BEARER_GRANT_TYPE, "assertion": assertion},
        deadline=deadline,
        ca_bundle=ca_bundle,
        user_agent=user_agent,
    )
    skew = clock_skew_seconds(answer.date, clock.time()) if clock and answer.date else None
    return parse_token_response(
        answer.status, answer.content_type, answer.body, context, clock_skew_seconds=skew
    )


def clock_skew_seconds(date_header: str, now: float) -> float | None:
    """How far this machine's clock is ahead of the server's (negative: behind), per ``Date``."""
    from email.utils import parsedate_to_datetime

    try:
        return now - parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError):
        return None


def revoke_token(
    token: str, revoke_endpoint: str, *, deadline: Deadline, ca_bundle: str | None
) -> bool:
    """Revoke an access token (Salesforce's ``/services/oauth2/revoke``, RFC 7009 style).

    True when Salesforce revoked it; False when it says the token was already invalid.
    """
    answer = post_form(revoke_endpoint, {"token": token}, deadline=deadline, ca_bundle=ca_bundle)
    body, status = answer.body, answer.status
    if status == 200:
        return True
    document = _json_object(body) or {}
    if status == 400 and document.get("error") == "invalid_token":
        return False
    if status >= 500 or status == 429:
        raise TransientError(f"{revoke_endpoint} answered HTTP {status}", hint="Retry later")
    raise SalesforceRefusedError(
        f"{revoke_endpoint} refused to revoke the token (HTTP {status}, "
        f"{document.get('error', 'no OAuth error')})",
        hint="Check --login-url",
    )


def _read_bounded(response: Any, too_late: Callable[[], bool]) -> bytes:
    """The body, or its first ``MAX_RESPONSE_BYTES + 1`` bytes (enough to know it is too long).

    A read timeout bounds each read, not the whole body: a server that trickles bytes would never
    trip it, so the attempt's own deadline is checked between chunks (``TimeoutError``).
    """
    chunks: list[bytes] = []
    size = 0
    with response:
        # iter_content turns urllib3's mid-body failures into requests exceptions.
        for chunk in response.iter_content(chunk_size=16384):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                break
            if too_late():
                raise TimeoutError
    return b"".join(chunks)


def parse_token_response(
    status: int,
    content_type: str | None,
    body: bytes,
    context: ExchangeContext,
    *,
    clock_skew_seconds: float | None = None,
) -> TokenResponse:
    """Interpret one token endpoint answer: the token, or the error that explains the failure."""
    endpoint = context.token_endpoint
    if len(body) > MAX_RESPONSE_BYTES:
        raise TransientError(f"{endpoint} sent an oversized response", hint="Retry later")
    document = _json_object(body)
    if 300 <= status < 400:
        raise SalesforceRefusedError(
            f"{endpoint} answered with a redirect (HTTP {status}), not a token",
            hint="Point --login-url at the login host itself (for example your My Domain URL)",
        )
    if document is None:
        return _non_json(status, content_type, endpoint)
    if status == 200:
        return _success(document, endpoint)
    if isinstance(document.get("error"), str):
        raise explain_oauth_error(
            document["error"],
            str(document.get("error_description") or ""),
            status,
            context,
            clock_skew_seconds=clock_skew_seconds,
        )
    if status >= 500 or status == 429:
        raise TransientError(f"{endpoint} answered HTTP {status}", hint="Retry later")
    raise SalesforceRefusedError(
        f"{endpoint} answered HTTP {status} without an OAuth error", hint="Check --login-url"
    )


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _non_json(status: int, content_type: str | None, endpoint: str) -> TokenResponse:
    kind = "an HTML page" if "html" in (content_type or "").lower() else "a body that is not JSON"
    if status == 200 or status >= 500 or status == 429:
        # Maintenance pages, captive portals and overloaded proxies: try again later.
        raise TransientError(
            f"{endpoint} answered HTTP {status} with {kind}, not Salesforce's JSON",
            hint="Salesforce or a proxy in between is unavailable; retry later",
        )
    raise SalesforceRefusedError(
        f"{endpoint} answered HTTP {status} with {kind}, not Salesforce's JSON",
        hint="Check that --login-url is your Salesforce login or My Domain URL",
    )


def _success(document: dict[str, Any], endpoint: str) -> TokenResponse:
    missing = [
        name
        for name in ("access_token", "instance_url", "id")
        if not isinstance(document.get(name), str) or not document[name]
    ]
    if missing:
        raise SalesforceRefusedError(
            f"{endpoint} answered HTTP 200 without {', '.join(missing)}",
            hint="Check that --login-url is a Salesforce login host",
        )
    issued_at = document.get("issued_at")
    issued_at_ms = int(issued_at) if isinstance(issued_at, str) and issued_at.isdigit() else None
    return TokenResponse(
        access_token=document["access_token"],
        instance_url=document["instance_url"].rstrip("/"),
        id_url=document["id"],
        token_type=str(document.get("token_type") or "Bearer"),
        scope=str(document.get("scope") or ""),
        issued_at_ms=issued_at_ms,
    )


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def explain_oauth_error(
    error: str,
    description: str,
    status: int,
    context: ExchangeContext,
    *,
    clock_skew_seconds: float | None = None,
) -> CredProcError:
    """Map Salesforce's ``error`` / ``error_description`` to an exception that names the fix."""
    said = _one_line(f"{error}: {description}" if description else error)
    text = description.lower()
    user, app = context.username, context.client_id
    if "login rate exceeded" in text:
        return TransientError(
            f"Salesforce refused the login for {user}: {said}",
            hint="The user exceeded 3,600 logins in an hour; retry after the hour, and cache tokens",
            retry_now=False,
        )
    if "expired authorization code" in text and clock_skew_seconds is not None:
        direction = "behind" if clock_skew_seconds < 0 else "ahead of"
        return SalesforceRefusedError(
            f"Salesforce refused the assertion for {user}: {said}; this machine's clock is "
            f"{abs(clock_skew_seconds):.0f} s {direction} Salesforce's (its Date header)",
            hint="Synchronise this machine's clock (NTP): assertions expire 180 s after they are made",
            oauth_error=error,
        )
    if error == "invalid_grant":
        for needle, fix in _INVALID_GRANT_FIXES:
            if needle in text:
                return SalesforceRefusedError(
                    f"Salesforce refused the assertion for {user}: {said}",
                    hint=fix.format(user=user, app=app, audience=context.audience),
                    oauth_error=error,
                )
        return SalesforceRefusedError(
            f"Salesforce refused the assertion for {user}: {said}",
            hint="Check the connected app, the user and the key",
            oauth_error=error,
        )
    if error in ("invalid_client_id", "invalid_client") or "client identifier invalid" in text:
        return SalesforceRefusedError(
            f"Salesforce does not know the consumer key {app!r}: {said}",
            hint="Check --client-id; a new or edited connected app takes 2-10 minutes to propagate",
            oauth_error=error,
        )
    if error == "unsupported_grant_type":
        return SalesforceRefusedError(
            f"{context.token_endpoint} does not accept the JWT bearer grant: {said}",
            hint="Check --login-url, and enable 'Use digital signatures' on the connected app",
            oauth_error=error,
        )
    if error in ("invalid_app_access", "inactive_user", "inactive_org"):
        return SalesforceRefusedError(
            f"Salesforce refused the login for {user}: {said}",
            hint=_OTHER_FIXES[error].format(user=user),
            oauth_error=error,
        )
    if status >= 500 or status == 429 or error in ("server_error", "temporarily_unavailable"):
        return TransientError(f"Salesforce answered HTTP {status}: {said}", hint="Retry later")
    return SalesforceRefusedError(
        f"Salesforce refused the assertion for {user}: {said}",
        hint="Check the connected app and the settings",
        oauth_error=error,
    )


_INVALID_GRANT_FIXES = (
    (
        "user hasn't approved this consumer",
        "Pre-authorize {user}: in the connected app's policies set Permitted Users to "
        "'Admin approved users are pre-authorized' and add the user's profile or permission set",
    ),
    (
        "invalid assertion",
        "The signing key does not match the certificate uploaded to the connected app: "
        "upload this key's certificate (or check --client-id)",
    ),
    (
        "audience is invalid",
        "The audience sent was {audience!r}: pass --audience https://login.salesforce.com "
        "(production, My Domain), https://test.salesforce.com (sandbox) or your site URL",
    ),
    (
        "expired authorization code",
        "The assertion had already expired when Salesforce read it: check this machine's clock (NTP)",
    ),
    (
        "invalid user credentials",
        "Check --username (sandbox usernames carry the sandbox suffix) and that the user is active",
    ),
    (
        "ip restricted or invalid login hours",
        "The login came from outside the user's allowed IP ranges or login hours: relax the "
        "connected app's IP restrictions or the profile's login IP ranges and hours",
    ),
)

_OTHER_FIXES = {
    "invalid_app_access": "Give {user}'s profile or a permission set access to the connected app",
    "inactive_user": "Activate (or unfreeze) {user}",
    "inactive_org": "The org is locked, deleted or expired; use an active org",
}
