"""Salesforce's OAuth errors (RFC 6749 section 5.2: ``error``, ``error_description``) explained.

Each refusal becomes one line that names what Salesforce said and the fix. The texts come from
Salesforce's "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration" and its error list; the
app may be a connected app or its successor, an External Client App (no new connected apps since
Spring '26), so fixes name both. Server-chosen text is untrusted: it is reduced to one printable,
bounded line before it reaches a message.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlsplit

from ..config.login_url import PRODUCTION_AUDIENCE, SANDBOX_AUDIENCE, TOKEN_PATH
from ..errors import CredProcError, LoginRateExceeded, SalesforceRefusedError, TransientError

#: The legacy login hosts that are also the default audiences of My Domain login URLs.
LEGACY_AUDIENCES = (PRODUCTION_AUDIENCE, SANDBOX_AUDIENCE)
MY_DOMAIN_SUFFIX = ".my.salesforce.com"


class ExchangeContext(NamedTuple):
    """What error messages may name: the endpoint, the user, the app and the audience sent."""

    token_endpoint: str
    username: str
    client_id: str
    audience: str


def untrusted_line(text: str, limit: int = 200) -> str:
    """Server-chosen text made safe for one stderr line: no control characters (a terminal
    escape sequence, a NUL), no line breaks, bounded length."""
    text = " ".join("".join(char if char.isprintable() else " " for char in text).split())
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
    said = untrusted_line(f"{error}: {description}" if description else error)
    text = description.lower()
    user, app = context.username, context.client_id
    if "login rate exceeded" in text:
        return LoginRateExceeded(
            f"Salesforce refused the login for {user}: {said}",
            hint="The user exceeded 3,600 logins in an hour: retry after the cool-down "
            "(--rate-limit-cooldown, 600 s by default), during which no login is made for the "
            "user and a still-valid cached token is served",
        )
    if "expired authorization code" in text and clock_skew_seconds is not None:
        direction = "behind" if clock_skew_seconds < 0 else "ahead of"
        return SalesforceRefusedError(
            f"Salesforce refused the assertion for {user}: {said}; this machine's clock is "
            f"{abs(clock_skew_seconds):.0f} s {direction} Salesforce's (its Date header)",
            hint="Synchronise this machine's clock (NTP): assertions expire 180 s after they are made",
        )
    if error == "invalid_grant":
        for needle, fix in _INVALID_GRANT_FIXES:
            if needle in text:
                return SalesforceRefusedError(
                    f"Salesforce refused the assertion for {user}: {said}",
                    hint=fix.format(user=user, app=app, audience=context.audience),
                )
        return SalesforceRefusedError(
            f"Salesforce refused the assertion for {user}: {said}",
            hint="Check the connected app or External Client App, the user and the key",
        )
    if error == "app_not_found":
        return SalesforceRefusedError(
            f"Salesforce refused the assertion for {user}: {said}",
            hint=_app_not_found_fix(context),
        )
    if error in ("invalid_client_id", "invalid_client") or "client identifier invalid" in text:
        return SalesforceRefusedError(
            f"Salesforce does not know the consumer key {app!r}: {said}",
            hint="Check --client-id (the consumer key of the connected app or External Client "
            "App); a new or edited app takes 2-10 minutes to propagate",
        )
    if error == "unsupported_grant_type":
        return SalesforceRefusedError(
            f"{context.token_endpoint} does not accept the JWT bearer grant: {said}",
            hint="Check --login-url, and enable 'Use digital signatures' on the connected app "
            "('Enable JWT Bearer Flow' on an External Client App)",
        )
    if error in ("invalid_app_access", "inactive_user", "inactive_org"):
        return SalesforceRefusedError(
            f"Salesforce refused the login for {user}: {said}",
            hint=_OTHER_FIXES[error].format(user=user),
        )
    if status >= 500 or status == 429 or error in ("server_error", "temporarily_unavailable"):
        return TransientError(f"Salesforce answered HTTP {status}: {said}", hint="Retry later")
    return SalesforceRefusedError(
        f"Salesforce refused the assertion for {user}: {said}",
        hint="Check the connected app or External Client App and the settings",
    )


def _app_not_found_fix(context: ExchangeContext) -> str:
    """The fix for ``app_not_found``, naming the audience that was sent.

    Users report that an External Client App refuses the legacy login hosts as the audience and
    that the My Domain URL, used for both the audience and the token host, works. That is field
    evidence, not Salesforce's documentation, so the default audience stays as documented and only
    this hint says what to try.
    """
    sent = f"The audience sent was {context.audience!r}"
    if context.audience not in LEGACY_AUDIENCES:
        return (
            f"{sent}: check --client-id, and that the External Client App is installed in the "
            "org of --login-url (a local app lives only in the org that made it; a packaged one "
            "must be installed)"
        )
    base = context.token_endpoint.removesuffix(TOKEN_PATH)
    host = urlsplit(base).hostname or ""
    if host.endswith(MY_DOMAIN_SUFFIX):
        use = f"--audience {base}"
    else:
        use = "--login-url https://MYDOMAIN.my.salesforce.com --audience https://MYDOMAIN.my.salesforce.com"
    return (
        f"{sent}; users report that an External Client App refuses the legacy login hosts as "
        f"the audience: use your My Domain URL for both the audience and the token host ({use})"
    )


_INVALID_GRANT_FIXES = (
    (
        "user hasn't approved this consumer",
        "Pre-authorize {user}: in the policies of the connected app (the OAuth Policies of an "
        "External Client App) set Permitted Users to 'Admin approved users are pre-authorized' "
        "and add the user's profile or permission set",
    ),
    (
        "invalid assertion",
        "The signing key does not match the certificate uploaded to the connected app or "
        "External Client App: upload this key's certificate (or check --client-id)",
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
        "The login came from outside the user's allowed IP ranges or login hours: relax the IP "
        "restrictions of the connected app or External Client App, or the profile's login IP "
        "ranges and hours",
    ),
)

_OTHER_FIXES = {
    "invalid_app_access": "Give {user}'s profile or a permission set access to the connected app "
    "or External Client App",
    "inactive_user": "Activate (or unfreeze) {user}",
    "inactive_org": "The org is locked, deleted or expired; use an active org",
}
