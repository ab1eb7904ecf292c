"""JWT-format access tokens: their ``exp`` brings ``Expiration`` forward, never later.

The reader (``oauth/access_token_jwt.py``) on its own, ``Credential.from_token_response``, and the
real ``get`` against the emulator over HTTPS, whose app issues JWT-based access tokens
(``register_app(token_format="jwt")``) or, for malformed ones, a canned answer.
"""

from __future__ import annotations

import base64
import calendar
import json
import time
from typing import Any

import jwt
import pytest
from clocks import SkippingClock
from cryptography.hazmat.primitives.asymmetric import rsa
from faulty_emulator import CannedResponse, FaultyEmulator
from helpers import CLIENT_ID, get_args, pem_public, run_cli, run_process

from sf_credproc.credential import Credential, format_rfc3339
from sf_credproc.errors import SalesforceRefusedError
from sf_credproc.oauth.access_token_jwt import expiry_of
from sf_credproc.oauth.token_response import TokenResponse

JSON = "application/json;charset=UTF-8"
NOW = 1_800_000_000
HEADER = {"alg": "RS256", "typ": "JWT", "kid": "k", "tty": "sfdc-core-token"}


def segment(value: Any) -> str:
    """One base64url segment (RFC 7515 section 2) of ``value``: JSON, or raw bytes as given."""
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def compact(payload: Any, header: Any = HEADER) -> str:
    """A compact JWS with ``payload`` (a claims object, or raw bytes) and a dummy signature."""
    return f"{segment(header)}.{segment(payload)}.{segment(b'not-a-real-signature')}"


def epoch(rfc3339: str) -> int:
    return calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ"))


# -- the reader --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (compact({"exp": NOW}), NOW),
        (compact({"exp": NOW + 0.75}), NOW),  # a NumericDate may be fractional: rounded down
        (compact({"exp": 10**30}), 10**30),  # absurd, but a number: the session TTL wins later
        (compact({"exp": NOW}, {"alg": "none"}), NOW),  # never verified: a hint either way
        (compact({"sub": "uid:005"}), None),  # no exp
        (compact({"exp": "soon"}), None),
        (compact({"exp": str(NOW)}), None),  # a numeric string is still a string
        (compact({"exp": True}), None),
        (compact({"exp": None}), None),
        (compact({"exp": [NOW]}), None),
        (compact(b'{"exp": NaN}'), None),
        (compact(b'{"exp": Infinity}'), None),
        (compact(b'{"exp": -Infinity}'), None),
        (compact([NOW]), None),  # a payload that is not an object
        (compact(b"not json at all"), None),
        (compact(b"\xff\xfe binary"), None),
        (compact(b"[" * 100_000 + b"]" * 100_000), None),  # deeper than the recursion limit
        (compact({"exp": NOW}, b"not json"), None),  # a header that is not JSON
        (compact({"exp": NOW}, {"alg": "RS256", "kid": 7}), None),  # a malformed header
        ("eyJhbGciOiJSUzI1NiJ9.!!not*base64!!.c2ln", None),
        ("a.b.c", None),
        ("..", None),
        (compact({"exp": NOW}) + ".extra", None),  # four segments: not a compact JWS
        ("00D5g000004ABCD!AQ8opaque.token.with.dots", None),  # an opaque session id
        ("00D5g000004ABCD!AQ8opaque", None),
    ],
)
def test_reader(token: str, expected: int | None) -> None:
    assert expiry_of(token) == expected


def test_reader_on_a_token_signed_with_a_key_it_does_not_have() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode({"exp": NOW, "sub": "uid:005"}, key, algorithm="RS256")
    assert expiry_of(token) == NOW


# -- the credential ----------------------------------------------------------------------------


def response_with(token: str) -> TokenResponse:
    return TokenResponse(
        access_token=token,
        instance_url="https://acme.my.salesforce.com",
        id_url="https://login.salesforce.com/id/00D000000000001AAA/005000000000001AAA",
        token_type="Bearer",
        scope="api",
    )


def credential_of(token: str, *, session_ttl: int = 7200) -> Credential:
    return Credential.from_token_response(
        response_with(token), username="u", sent_at=NOW + 0.9, session_ttl_seconds=session_ttl
    )


@pytest.mark.parametrize(
    ("exp", "session_ttl", "expiration"),
    [
        (NOW + 1800, 7200, NOW + 1800),  # exp earlier than the session: exp
        (NOW + 10_800, 7200, NOW + 7200),  # later: the session TTL rule
        (NOW + 7200, 7200, NOW + 7200),  # the same: either
        (NOW + 1, 7200, NOW + 1),  # one second left is still a token, for the windows to judge
    ],
)
def test_expiration_is_the_earlier_of_exp_and_the_session(
    exp: int, session_ttl: int, expiration: int
) -> None:
    credential = credential_of(compact({"exp": exp}), session_ttl=session_ttl)
    assert credential.issued_at == NOW
    assert credential.expiration == expiration


def test_opaque_and_unreadable_tokens_keep_the_session_ttl_rule() -> None:
    for token in ("00D000000000001!AQ8opaque", compact({"exp": "soon"}), "x.y.z"):
        assert credential_of(token, session_ttl=900).expiration == NOW + 900


@pytest.mark.parametrize("exp", [NOW, NOW - 1, NOW - 86_400, 0, -(10**30)])
def test_a_token_expired_on_arrival_is_refused(exp: int) -> None:
    token = compact({"exp": exp, "sfi": "unique-claim-value"})
    with pytest.raises(SalesforceRefusedError) as refused:
        credential_of(token)
    message = f"{refused.value} {refused.value.hint}"
    assert "expired on arrival" in message and "clock" in message
    for secret in (token, token.split(".")[1], str(exp), "unique-claim-value"):
        assert secret not in message


# -- through get, against the emulator ---------------------------------------------------------


@pytest.fixture
def clock(org: FaultyEmulator) -> SkippingClock:
    """One clock for the command and the emulator, moved forward instead of waited on."""
    shared = SkippingClock()
    org.clock = shared.time
    return shared


def issue_jwts(org: FaultyEmulator, app_key: rsa.RSAPrivateKey, lifetime: float | None) -> None:
    """The test app, now issuing JWT-based access tokens valid ``lifetime`` seconds."""
    org.register_app(
        CLIENT_ID, pem_public(app_key), token_format="jwt", token_lifetime_seconds=lifetime
    )


def claims_of(credential: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        credential["AccessToken"], options={"verify_signature": False}
    )
    return claims


def test_an_exp_earlier_than_the_session_is_the_expiration(
    org: FaultyEmulator,
    env: dict[str, str],
    key: str,
    app_key: rsa.RSAPrivateKey,
    clock: SkippingClock,
) -> None:
    issue_jwts(org, app_key, lifetime=1800)
    credential = run_cli(get_args(org, key), env, clock=clock).credential()  # session TTL 7200
    exp = claims_of(credential)["exp"]
    assert credential["Expiration"] == format_rfc3339(exp)
    assert 1800 <= exp - epoch(credential["IssuedAt"]) <= 1830  # whole seconds, a slow machine


def test_an_exp_later_than_the_session_leaves_the_session_ttl_rule(
    org: FaultyEmulator,
    env: dict[str, str],
    key: str,
    app_key: rsa.RSAPrivateKey,
    clock: SkippingClock,
) -> None:
    issue_jwts(org, app_key, lifetime=10_800)
    credential = run_cli(get_args(org, key, "--session-ttl", "3600"), env, clock=clock).credential()
    assert claims_of(credential)["exp"] > epoch(credential["Expiration"])
    assert epoch(credential["Expiration"]) - epoch(credential["IssuedAt"]) == 3600


def test_the_emulator_default_lifetime_is_the_session(
    org: FaultyEmulator,
    env: dict[str, str],
    key: str,
    app_key: rsa.RSAPrivateKey,
    clock: SkippingClock,
) -> None:
    """Without a lifetime the JWT lives as long as the app's session: the session TTL rule."""
    issue_jwts(org, app_key, lifetime=None)
    credential = run_cli(get_args(org, key), env, clock=clock).credential()
    assert epoch(credential["Expiration"]) - epoch(credential["IssuedAt"]) == 7200
    session = org.sessions[credential["AccessToken"]]
    assert session.expires_at == claims_of(credential)["exp"]  # the session ends at its exp


def test_the_refresh_windows_apply_to_the_jwt_expiration(
    org: FaultyEmulator,
    env: dict[str, str],
    key: str,
    app_key: rsa.RSAPrivateKey,
    clock: SkippingClock,
) -> None:
    """A 30-minute JWT under a 2-hour session TTL: fresh, then advisory, then mandatory by its
    own exp (advisory 900 s plus up to 10 % jitter, mandatory 300 s, the defaults for 7200)."""
    issue_jwts(org, app_key, lifetime=1800)
    args = get_args(org, key)
    first = run_cli(args, env, clock=clock).credential()

    def advance_to(seconds_left: float, credential: dict[str, Any]) -> None:
        """To ``seconds_left`` before the token's own exp (not its session's end)."""
        clock.advance(claims_of(credential)["exp"] - seconds_left - clock.time())

    advance_to(1200, first)  # fresh by its exp (an opaque token would have 6,000 s left)
    assert run_cli(args, env, clock=clock).credential() == first
    listing = run_cli(["cache", "list", "--json"], env, clock=clock)
    assert json.loads(listing.stdout)["state"] == "fresh"
    assert org.token_request_count == 1

    advance_to(600, first)  # the advisory window: refreshed, no wait, no warning
    listing = run_cli(["cache", "list", "--json"], env, clock=clock)
    assert json.loads(listing.stdout)["state"] == "advisory"
    run = run_cli(args, env, clock=clock)
    second = run.credential()
    assert run.stderr == ""
    assert second["AccessToken"] != first["AccessToken"]
    assert org.token_request_count == 2

    # Salesforce down in the mandatory window of the second token: not served, exit 5.
    advance_to(200, second)
    org.canned_responses.extend([CannedResponse(503, b"<html>down</html>")] * 4)
    run_cli(args, env, clock=clock).assert_failed(5, "HTTP 503")
    org.canned_responses.clear()
    third = run_cli(args, env, clock=clock).credential()
    assert third["AccessToken"] not in (first["AccessToken"], second["AccessToken"])
    assert run_cli(args, env, clock=clock).credential() == third  # fresh again: a hit
    assert org.token_request_count == 2 + 4 + 1


def test_the_fast_path_serves_a_jwt_token_by_its_exp(
    org: FaultyEmulator, env: dict[str, str], key: str, app_key: rsa.RSAPrivateKey
) -> None:
    """Real processes on the real clock: the second invocation is a fast-path hit."""
    issue_jwts(org, app_key, lifetime=1800)
    args = get_args(org, key)
    first = run_process(args, env).credential()
    assert run_process(args, env).credential() == first
    assert org.token_request_count == 1
    assert epoch(first["Expiration"]) == claims_of(first)["exp"]


def test_opaque_tokens_are_unchanged(
    org: FaultyEmulator, env: dict[str, str], key: str, clock: SkippingClock
) -> None:
    for session_ttl in ("7200", "1800"):
        args = get_args(org, key, "--session-ttl", session_ttl, "--refresh")
        credential = run_cli(args, env, clock=clock).credential()
        assert "!" in credential["AccessToken"] and expiry_of(credential["AccessToken"]) is None
        lifetime = epoch(credential["Expiration"]) - epoch(credential["IssuedAt"])
        assert lifetime == int(session_ttl)


def success_body(org: FaultyEmulator, token: str) -> bytes:
    """The emulator's success answer, with ``token`` as the access token."""
    return json.dumps(
        {
            "access_token": token,
            "signature": "c2lnbmF0dXJl",
            "scope": "api",
            "instance_url": org.url,
            "id": f"{org.url}/id/{org.org_id}/{next(iter(org.users.values())).user_id}",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
        }
    ).encode()


SOON = int(time.time()) + 600  # an exp that, were it read, would cut the session short
MALFORMED = [
    ("bad base64", f"{segment(HEADER)}.!!not*base64!!.{segment(b'sig')}"),
    ("no exp", compact({"sub": "uid:005", "sfi": "claim-value-1"})),
    ("exp soon", compact({"exp": "soon", "sfi": "claim-value-2"})),
    ("exp true", compact({"exp": True, "sfi": "claim-value-3"})),
    ("exp a string of digits", compact({"exp": str(SOON), "sfi": "claim-value-4"})),
    ("exp NaN", compact(b'{"exp": NaN, "sfi": "claim-value-5"}')),
    ("payload an array", compact([SOON])),
    ("header not JSON", compact({"exp": SOON}, b"{{{")),
]


@pytest.mark.parametrize("token", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_a_malformed_jwt_looking_token_keeps_the_session_ttl_rule(
    org: FaultyEmulator, env: dict[str, str], key: str, token: str
) -> None:
    org.canned_responses.append(CannedResponse(200, success_body(org, token), JSON))
    run = run_cli(get_args(org, key, "--session-ttl", "1800", "-v"), env)
    credential = run.credential()
    assert credential["AccessToken"] == token
    assert epoch(credential["Expiration"]) - epoch(credential["IssuedAt"]) == 1800
    assert "Traceback" not in run.stderr
    assert "valid for 1800s (--session-ttl)" in run.stderr
    for part in (token, *token.split(".")):
        assert part not in run.stderr


def test_the_claims_never_reach_stderr(
    org: FaultyEmulator, env: dict[str, str], key: str, app_key: rsa.RSAPrivateKey
) -> None:
    """With -v, a login and a cache hit, in both log formats: the token's lifetime is told, never
    its segments or claim values (the ``Expiration`` the exp led to is the output contract's, and
    may be logged like any other)."""
    issue_jwts(org, app_key, lifetime=1800)
    args = get_args(org, key, "-v")
    login = run_cli(args, env)
    credential = login.credential()
    assert "(the token's own exp)" in login.stderr
    hit = run_cli([*args, "--log-format", "json"], env)
    assert hit.credential() == credential
    token = credential["AccessToken"]
    claims = claims_of(credential)
    header = jwt.get_unverified_header(token)
    never = [
        *token.split("."),
        claims["sfi"],
        claims["sub"],
        header["tnk"],
        "sfdc-core-token",
    ]
    for stderr in (login.stderr, hit.stderr):
        for value in never:
            assert value not in stderr, value


def test_a_token_expired_on_arrival_is_refused_naming_the_clock(
    org: FaultyEmulator, env: dict[str, str], key: str, app_key: rsa.RSAPrivateKey
) -> None:
    """This machine's clock an hour ahead of Salesforce's, a 30-minute JWT: exit 4, one line,
    not retried, nothing cached (the next get asks again)."""
    issue_jwts(org, app_key, lifetime=1800)
    ahead = SkippingClock()
    ahead.advance(3600)
    for attempt in (1, 2):
        run = run_cli(get_args(org, key), env, clock=ahead)
        run.assert_failed(4, "expired on arrival", "clock")
        assert org.token_request_count == attempt
    assert next(iter(org.sessions)) not in run.stderr
