"""Is a session dead? One call to Salesforce's ``/services/oauth2/userinfo`` with its token.

Compare and refresh (``get --rejected-sha256``) drops a cached token only once Salesforce confirms
it dead: a consumer's 401 may have another cause (a proxy, a wrong org, a bug), and dropping a live
token would make every such consumer log in. OpenID Connect Core 1.0 section 5.3: the UserInfo
endpoint answers 200 for a valid access token, and 401 (RFC 6750 ``invalid_token``) otherwise;
Salesforce answers 403 for a token whose user may not use it.
"""

from __future__ import annotations

from ..clock import Clock
from ..credential import Credential
from ..deadline import Deadline
from ..errors import TransientError
from ..retry import call_with_retries
from .exchange import post_form

USERINFO_PATH = "/services/oauth2/userinfo"


def confirm_dead(
    credential: Credential, *, deadline: Deadline, ca_bundle: str | None, clock: Clock
) -> bool:
    """``session_is_dead``, retried on transient failures within ``deadline`` (``retry.py``)."""
    return call_with_retries(
        lambda attempt: session_is_dead(credential, deadline=deadline, ca_bundle=ca_bundle),
        doing="asking Salesforce whether the reported token is dead",
        deadline=deadline,
        clock=clock,
    )


def session_is_dead(credential: Credential, *, deadline: Deadline, ca_bundle: str | None) -> bool:
    """True when Salesforce refuses ``credential``'s token (401 or 403), False when it accepts it
    (200). Raises ``TransientError`` when the answer says neither."""
    url = credential.instance_url + USERINFO_PATH
    answer = post_form(
        url,
        None,
        deadline=deadline,
        ca_bundle=ca_bundle,
        method="GET",
        bearer=credential.access_token,
    )
    if answer.status in (401, 403):
        return True
    if answer.status == 200:
        return False
    raise TransientError(
        f"{url} answered HTTP {answer.status}: cannot tell whether the reported token is dead",
        hint="Retry later",
    )
