"""``sf-credproc serve``: what a client of the credential endpoint gets.

The server runs as the installed console script against the emulator over HTTPS with a ``file:``
key; every request goes through ``http.client`` (``serve_fixtures.request``), so each test decides
every header. Every answer is checked for ``Cache-Control: no-store``, a true ``Content-Length``
and the absence of any CORS header (RFC 9111 section 5.2.2.5; the Fetch standard's
``Access-Control-*`` fields). The contract: README, "A local credential endpoint".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest
from faulty_emulator import FaultyEmulator
from helpers import USERNAME
from serve_fixtures import (  # noqa: F401 (fixtures)
    CREDENTIAL_FIELDS,
    ServeProcess,
    assert_error,
    assert_one_error_line,
    credential_of,
    get_json,
    held_org,
    holding_emulator,
    request,
    serve_args,
    wait_until,
)
from test_auth_refresh import HoldingEmulator

from sf_credproc import formats

#: The formats a client may ask for, and the media type of each answer.
CONTENT_TYPES = {
    "json": "application/json",
    "sf": "application/json",
    "token": "text/plain; charset=utf-8",
    "header": "text/plain; charset=utf-8",
    "env": "text/plain; charset=utf-8",
}


@pytest.fixture
def server(org: FaultyEmulator, key: str, env: dict[str, str]) -> Iterator[ServeProcess]:
    with ServeProcess(serve_args(org, key), env) as served:
        yield served


def media_type(value: str | None) -> str:
    return re.sub(r"\s*;\s*", "; ", (value or "").lower().strip())


# --- the one line, and the credential ------------------------------------------------------------


def test_the_server_prints_its_url_and_serves_the_credential(
    server: ServeProcess, org: FaultyEmulator
) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/credential", server.url), server.url
    answer = get_json(server.url, server.token)
    assert answer.status == 200, answer
    document = answer.json()
    assert set(document) == CREDENTIAL_FIELDS
    assert document["Version"] == 1
    assert document["Username"] == USERNAME
    assert document["AccessToken"] in org.sessions
    credential_of(document)  # a whole credential of the output contract
    # From memory: a second answer is the same token, without another login.
    again = get_json(server.url, server.token).json()
    assert again["AccessToken"] == document["AccessToken"]
    assert org.token_request_count == 1


def test_each_format_is_the_text_get_prints(server: ServeProcess) -> None:
    credential = credential_of(get_json(server.url, server.token).json())
    for fmt, content_type in CONTENT_TYPES.items():
        answer = request(server.url, server.token, query={"format": fmt})
        assert answer.status == 200, (fmt, answer)
        assert answer.text == formats.render(credential, fmt), fmt
        assert media_type(answer.header("Content-Type")) == content_type, fmt


def test_the_format_setting_is_the_default(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    with ServeProcess(serve_args(org, key, "--format", "token"), env) as served:
        answer = request(served.url, served.token)
        assert answer.status == 200, answer
        assert media_type(answer.header("Content-Type")) == "text/plain; charset=utf-8"
        assert answer.text.rstrip("\n") in org.sessions
        # ?format= still chooses.
        assert get_json(served.url, served.token, query={"format": "json"}).status == 200


def test_the_github_format_is_refused_at_start(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    served = ServeProcess(serve_args(org, key, "--format", "github"), env, wait_for_url=False)
    with served:
        code = served.wait()
        assert code == 2, served.stderr_text()
        assert served.rest_of_stdout() == ""
        assert_one_error_line(code, served.stderr_text(), "github")
    assert org.token_request_count == 0


# --- query parameters ----------------------------------------------------------------------------


#: Query strings the endpoint refuses: unknown, repeated or badly valued parameters.
BAD_QUERIES = [
    "unknown=1",
    "Format=json",
    "format=json&format=json",
    "format=json&format=token",
    "format=xml",
    "format=",
    "format=github",
    "format",
    "rejected_sha256=xyz",
    "rejected_sha256=" + "a" * 63,
    "rejected_sha256=" + "a" * 65,
    "rejected_sha256=" + "g" * 64,
    "rejected_sha256=" + "a" * 64 + "&rejected_sha256=" + "b" * 64,
    "format=json&unknown=1",
]


def test_an_unknown_repeated_or_bad_query_parameter_is_400(
    server: ServeProcess, org: FaultyEmulator
) -> None:
    for query in BAD_QUERIES:
        answer = request(server.url, server.token, query=query)
        assert answer.status == 400, (query, answer)
        assert_error(answer, 400, "bad_request")
    assert org.token_request_count <= 1  # the background login only: no refresh was asked


def test_a_rejected_sha256_of_another_token_answers_the_token_held(
    server: ServeProcess, org: FaultyEmulator
) -> None:
    token = get_json(server.url, server.token).json()["AccessToken"]
    other = hashlib.sha256(b"a token replaced long ago").hexdigest()
    answer = get_json(server.url, server.token, query={"rejected_sha256": other})
    assert answer.status == 200, answer
    assert answer.json()["AccessToken"] == token
    assert org.token_request_count == 1


def test_a_rejected_sha256_of_a_live_token_keeps_it_in_any_case(
    server: ServeProcess, org: FaultyEmulator
) -> None:
    """Hex digits in upper case name the same token; Salesforce still accepts it, so it is kept
    without a login."""
    token = get_json(server.url, server.token).json()["AccessToken"]
    rejected = hashlib.sha256(token.encode()).hexdigest().upper()
    answer = get_json(server.url, server.token, query={"rejected_sha256": rejected})
    assert answer.status == 200, answer
    assert answer.json()["AccessToken"] == token
    assert org.token_request_count == 1


# --- paths and methods ---------------------------------------------------------------------------


def test_an_unknown_path_is_404(server: ServeProcess) -> None:
    for path in ("/", "/credentials", "/credential/", "/CREDENTIAL", "/healthz/x", "/credential/x"):
        answer = request(server.url, server.token, path=path)
        assert answer.status == 404, (path, answer)
        assert_error(answer, 404, "not_found")


def test_an_unknown_path_without_the_token_is_401(server: ServeProcess) -> None:
    assert_error(request(server.url, None, path="/admin"), 401, "unauthorized")


def test_another_method_is_405_with_allow_get(server: ServeProcess) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        answer = request(server.url, server.token, method=method)
        assert answer.status == 405, (method, answer)
        assert_error(answer, 405, "method_not_allowed")
        allowed = {part.strip() for part in (answer.header("Allow") or "").split(",")}
        assert "GET" in allowed, (method, answer.headers)
        assert allowed <= {"GET", "HEAD"}, (method, answer.headers)


def test_a_cors_preflight_gets_no_cors_header(server: ServeProcess) -> None:
    """A page's preflight and its simple request both get answers without any
    ``Access-Control-*`` field (``request`` checks every answer), so no browser lets a page read
    them."""
    origin = {"Origin": "https://evil.example"}
    preflight = {
        **origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    assert request(server.url, None, method="OPTIONS", headers=preflight).status in (401, 405)
    assert request(server.url, server.token, headers=origin).status == 200


# --- /healthz ------------------------------------------------------------------------------------


def test_healthz_says_not_ready_until_the_first_login_then_ready(
    held_org: HoldingEmulator,  # noqa: F811
    key: str,
    env: dict[str, str],
) -> None:
    held_org.gate.clear()
    with ServeProcess(serve_args(held_org, key), env) as served:
        assert held_org.held.wait(60), served.stderr_text()  # the first login waits at the gate
        answer = get_json(served.url, None, path="/healthz")
        assert answer.status == 200, answer
        assert answer.json() == {"ready": False}
        held_org.gate.set()

        def ready() -> bool:
            document = get_json(served.url, None, path="/healthz").json()
            assert document in ({"ready": False}, {"ready": True}), document
            return bool(document == {"ready": True})

        wait_until(ready, "/healthz ready after the first login")
        # Nothing but the flag, with or without a token, and never the token.
        with_token = get_json(served.url, served.token, path="/healthz")
        assert with_token.json() == {"ready": True}
        assert held_org.token_request_count == 1
