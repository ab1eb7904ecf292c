"""Exchange a signed assertion at Salesforce's token endpoint (RFC 7523 section 2.1).

Success is RFC 6749 section 5.1 JSON without ``expires_in`` (Salesforce's session timeout decides the
lifetime); failure is RFC 6749 section 5.2 JSON (``error``, ``error_description``), usually HTTP 400.
Each Salesforce error is mapped to one line that says what to fix (``oauth_errors.py``); the fields
of a success are checked in ``token_response.py``.
"""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from ..clock import Clock
from ..deadline import Deadline
from ..errors import ConfigError, SalesforceRefusedError, TransientError
from ..http_call import HttpAnswer as HttpAnswer  # re-exported
from ..http_call import Peer, request_within
from .oauth_errors import ExchangeContext as ExchangeContext  # re-exported
from .oauth_errors import explain_oauth_error, untrusted_line
from .token_response import BROKEN_CONTRACT_HINT, json_type_name, read_token_response
from .token_response import TokenResponse as TokenResponse  # re-exported

#: Sent with every request to Salesforce.
USER_AGENT = f"sf-credproc/{__version__}"
JWT_BEARER_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: A token response is well under a kilobyte; refuse to buffer a runaway body.
MAX_RESPONSE_BYTES = 256 * 1024


def post_form(
    url: str,
    form: dict[str, str] | None,
    *,
    deadline: Deadline,
    ca_bundle: str | None,
    user_agent: str = USER_AGENT,
    method: str = "POST",
    bearer: str | None = None,
) -> HttpAnswer:
    """POST ``form`` (``application/x-www-form-urlencoded``) to ``url``: one attempt, within the
    attempt's share of the deadline (``http_call.request_within``).

    ``method="GET"`` with no form serves ``doctor``'s look at the server's clock, and with
    ``bearer`` (an access token, sent as ``Authorization: Bearer``) the userinfo check.
    """
    peer = Peer(
        url,
        untrusted_certificate_hint="If a TLS-inspecting proxy or private CA is in the way, point "
        "REQUESTS_CA_BUNDLE at its CA bundle",
        unreachable_hint="Check the network, proxy settings and --login-url",
    )
    return request_within(
        method,
        url,
        peer=peer,
        deadline=deadline,
        headers=_headers(user_agent, bearer),
        data=form,
        # TLS verification is never turned off; a custom CA bundle may replace the default.
        verify=ca_bundle or True,
        # As requests.request does, but proxies are the ones chosen here, never requests' own
        # pick from the environment; nor is ~/.netrc consulted.
        proxies=_proxies_for(url),
        max_bytes=MAX_RESPONSE_BYTES,
    )


def _headers(user_agent: str, bearer: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": user_agent}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    return headers


def _proxies_for(url: str) -> dict[str, str]:
    """The proxies to reach ``url`` through, as urllib3 will read its host.

    None for loopback: a proxy's loopback is not this machine's, and a plain-http assertion must
    never cross a proxy (``HTTP_PROXY``). Otherwise the environment's (``HTTPS_PROXY``,
    ``NO_PROXY``), for https only: plain http to a remote host is refused here too, whatever
    built the URL.
    """
    import requests
    from urllib3.util import parse_url

    from ..config.host_names import is_loopback_host

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
    skew = server_clock_skew(answer.date, clock.time()) if clock and answer.date else None
    return parse_token_response(
        answer.status, answer.content_type, answer.body, context, clock_skew_seconds=skew
    )


def server_clock_skew(date_header: str, now: float) -> float | None:
    """Seconds this machine's clock (``now``, Unix seconds) is ahead of the server's, negative when
    behind, per the answer's ``Date`` header (RFC 9110 section 6.6.1: an IMF-fixdate, to the
    second); None when the header is not a date. ``exchange_assertion`` and ``doctor`` use it."""
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
        f"{_server_error_code(document)})",
        hint="Check --login-url",
    )


def _server_error_code(document: dict[str, Any]) -> str:
    """The OAuth ``error`` of an answer as one bounded, printable line (server-chosen text)."""
    error = document.get("error")
    return untrusted_line(error, limit=80) if isinstance(error, str) and error else "no OAuth error"


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
    value = _parse_json(body, f"{endpoint} answered HTTP {status}")
    if 300 <= status < 400:
        raise SalesforceRefusedError(
            f"{endpoint} answered with a redirect (HTTP {status}), not a token",
            hint="Point --login-url at the login host itself (for example your My Domain URL)",
        )
    if value is _NOT_JSON:
        return _non_json(status, content_type, endpoint)
    if not isinstance(value, dict):
        if status == 200:
            # JSON, so not a maintenance page: an answer that breaks the contract (exit 4).
            raise SalesforceRefusedError(
                f"{endpoint} answered HTTP 200 with a JSON {json_type_name(value)}, not an object",
                hint=BROKEN_CONTRACT_HINT,
            )
        return _non_json(status, content_type, endpoint)
    document: dict[str, Any] = value
    if status == 200:
        return read_token_response(document, endpoint)
    if isinstance(document.get("error"), str):
        description = document.get("error_description")
        raise explain_oauth_error(
            document["error"],
            description if isinstance(description, str) else "",
            status,
            context,
            clock_skew_seconds=clock_skew_seconds,
        )
    if status >= 500 or status == 429:
        raise TransientError(f"{endpoint} answered HTTP {status}", hint="Retry later")
    raise SalesforceRefusedError(
        f"{endpoint} answered HTTP {status} without an OAuth error", hint="Check --login-url"
    )


#: What ``_parse_json`` returns for a body that is not JSON at all.
_NOT_JSON = object()


def _parse_json(body: bytes, answered: str) -> object:
    """The JSON value of ``body``, or ``_NOT_JSON``; ``answered`` starts the error line.

    JSON nested deeper than the interpreter's recursion limit raises ``RecursionError`` (not a
    ``ValueError``) in the parser; no Salesforce answer is shaped so, so it is refused (exit 4).
    """
    try:
        return json.loads(body)
    except RecursionError as error:  # says how deep, not what the body holds
        raise SalesforceRefusedError(
            f"{answered} with JSON nested too deeply to be Salesforce's",
            hint=BROKEN_CONTRACT_HINT,
        ) from error
    except ValueError:
        return _NOT_JSON


def _json_object(body: bytes, answered: str = "Salesforce answered") -> dict[str, Any] | None:
    document = _parse_json(body, answered)
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
