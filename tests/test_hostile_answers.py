"""Hostile 200 answers from the token endpoint: refused with exit 4 in one line, nothing printed or
cached; what Salesforce may vary (``issued_at``) is accepted. The answers come from the emulator's
fault injection over HTTPS (tests/faulty_emulator.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from faulty_emulator import CannedResponse, FaultyEmulator
from helpers import CLIENT_ID, USERNAME, get_args, pem_public, run_cli

from sf_credproc.clock import SystemClock
from sf_credproc.deadline import Deadline
from sf_credproc.errors import SalesforceRefusedError
from sf_credproc.oauth.exchange import revoke_token

JSON = "application/json;charset=UTF-8"
ORG_ID = "00D5g000004ABCDEAY"
OPAQUE = "AQ8fakeOpaquePartOfAHostileToken.9xYz_ab"
TOKEN = f"{ORG_ID[:15]}!{OPAQUE}"
INSTANCE = "https://acme.my.salesforce.com"
IDENTITY = f"https://login.salesforce.com/id/{ORG_ID}/0055g00000ABCDEAAY"
#: 100,000 levels: far past the interpreter's recursion limit, yet under the 256 KiB body limit.
DEEP = 100_000


def answer(**fields: Any) -> bytes:
    """A Salesforce success body with ``fields`` replaced (``None`` removes a field)."""
    document: dict[str, Any] = {
        "access_token": TOKEN,
        "signature": "c2lnbmF0dXJl",
        "scope": "api",
        "instance_url": INSTANCE,
        "id": IDENTITY,
        "token_type": "Bearer",
        "issued_at": "1764403200000",
    }
    document.update(fields)
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


#: (id, body, what the error line names). Every one is a JSON 200 that breaks the contract.
HOSTILE_200 = [
    ("CR LF in access_token", answer(access_token=TOKEN + "\r\nX-Injected: 1"), "access_token"),
    ("LF in access_token", answer(access_token=TOKEN + "\nsecond line"), "access_token"),
    ("NUL in access_token", answer(access_token=TOKEN + "\x00"), "access_token"),
    ("escape sequence in access_token", answer(access_token=TOKEN + "\x1b[2J"), "access_token"),
    ("line separator in access_token", answer(access_token=TOKEN + "\u2028x"), "access_token"),
    ("CR LF in instance_url", answer(instance_url=INSTANCE + "\r\nX: 1"), "instance_url"),
    ("NUL in instance_url", answer(instance_url=INSTANCE + "\x00"), "instance_url"),
    ("CR LF in id", answer(id=IDENTITY + "\r\nX: 1"), "id"),
    ("NUL in id", answer(id=IDENTITY + "\x00"), "id"),
    ("plain http instance_url", answer(instance_url="http://evil.example"), "http://evil.example"),
    ("javascript: instance_url", answer(instance_url="javascript:alert(1)"), "javascript:"),
    ("file: instance_url", answer(instance_url="file:///etc/passwd"), "instance_url"),
    ("credentials in instance_url", answer(instance_url="https://user@evil.example"), "user@"),
    ("instance_url without a host", answer(instance_url="https://"), "instance_url"),
    ("instance_url with a bad port", answer(instance_url=INSTANCE + ":99999"), "instance_url"),
    ("plain http id", answer(id="http://evil.example/id/00D/005"), "id"),
    ("instance_url a number", answer(instance_url=42), "instance_url of JSON type number"),
    ("instance_url an array", answer(instance_url=[INSTANCE]), "instance_url of JSON type array"),
    ("access_token an object", answer(access_token={"a": 1}), "access_token of JSON type object"),
    ("access_token a boolean", answer(access_token=True), "access_token of JSON type boolean"),
    ("id a number", answer(id=5), "id of JSON type number"),
    ("token_type not Bearer", answer(token_type="MAC"), "token_type 'MAC'"),
    ("token_type a number", answer(token_type=1), "token_type number"),
    ("scope an array", answer(scope=["api"]), "scope of JSON type array"),
    ("CR LF in scope", answer(scope="api\r\nweb"), "scope"),
    ("no access_token", answer(access_token=None), "without access_token"),
    ("a JSON array", b"[]", "JSON array, not an object"),
    ("a JSON string", b'"00D!token"', "JSON string, not an object"),
    ("deeply nested JSON", b"[" * DEEP + b"]" * DEEP, "nested too deeply"),
    (
        "deeply nested access_token",
        b'{"access_token": ' + b"[" * DEEP + b"]" * DEEP + b"}",
        "nested too deeply",
    ),
]


def cache_files(env: dict[str, str]) -> list[str]:
    """The cache directory's files other than lock files (which a login attempt may leave)."""
    directory = Path(env["XDG_CACHE_HOME"]) / "sf-credproc"
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir() if not p.name.endswith(".lock"))


@pytest.mark.parametrize(
    ("body", "needle"), [c[1:] for c in HOSTILE_200], ids=[c[0] for c in HOSTILE_200]
)
@pytest.mark.parametrize("output", ["json", "header"])
def test_hostile_success_answer_is_refused(
    body: bytes,
    needle: str,
    output: str,
    org: FaultyEmulator,
    env: dict[str, str],
    key: str,
) -> None:
    org.canned_responses.append(CannedResponse(200, body, JSON))
    run = run_cli(get_args(org, key, "--format", output), env)
    run.assert_failed(4, "answered HTTP 200", needle)  # one line, empty stdout, no traceback
    assert OPAQUE not in run.stderr  # the token is never quoted, not even a hostile one
    assert org.token_request_count == 1  # a broken contract is not retried
    assert cache_files(env) == []


def test_deeply_nested_error_answer_is_refused(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    org.canned_responses.append(CannedResponse(400, b'{"a":' * 40_000 + b"1" + b"}" * 40_000, JSON))
    run_cli(get_args(org, key), env).assert_failed(4, "HTTP 400", "nested too deeply")


#: (id, error_description): server-chosen text that reaches the error line.
HOSTILE_DESCRIPTIONS = [
    ("CR LF", "bad\r\nsf-credproc: forged second line"),
    ("terminal escape sequence", "bad\x1b[2J\x1b]0;title\x07"),
    ("NUL and DEL", "bad\x00\x7f"),
    ("line separators", "bad\u2028next\u0085next"),
    ("an object", {"nested": "bad"}),
]


@pytest.mark.parametrize(
    "description", [c[1] for c in HOSTILE_DESCRIPTIONS], ids=[c[0] for c in HOSTILE_DESCRIPTIONS]
)
def test_hostile_error_description_is_one_printable_line(
    description: object, org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    body = json.dumps({"error": "invalid_grant", "error_description": description}).encode()
    org.canned_responses.append(CannedResponse(400, body, JSON))
    run = run_cli(get_args(org, key), env)
    run.assert_failed(4, "invalid_grant")
    assert run.stderr.endswith("\n") and run.stderr[:-1].isprintable()
    assert "nested" not in run.stderr  # a non-string description is not shown as a repr


def test_hostile_answer_leaves_the_cached_entry_untouched(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    good = run_cli(get_args(org, key), env).credential()
    directory = Path(env["XDG_CACHE_HOME"]) / "sf-credproc"
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    org.canned_responses.append(CannedResponse(200, answer(access_token=TOKEN + "\r\n"), JSON))
    run_cli(get_args(org, key, "--refresh"), env).assert_failed(4, "access_token")
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    assert run_cli(get_args(org, key), env).credential() == good  # still served from the cache


#: (id, fields): answers Salesforce may send that must be accepted. ``issued_at`` is not used
#: (IssuedAt is this machine's clock), so whatever it holds is ignored.
ACCEPTED_200 = [
    ("issued_at absent", {"issued_at": None}),
    ("issued_at empty", {"issued_at": ""}),
    ("issued_at not a number", {"issued_at": "yesterday"}),
    ("issued_at a superscript digit", {"issued_at": "\u00b2"}),
    ("issued_at full-width digits", {"issued_at": "\uff11\uff12\uff13"}),
    ("issued_at 400 digits", {"issued_at": "9" * 400}),
    ("issued_at a JSON number", {"issued_at": 1764403200000}),
    ("issued_at an object", {"issued_at": {"ms": 1}}),
    ("token_type lower case", {"token_type": "bearer"}),
    ("token_type absent", {"token_type": None}),
    ("scope absent", {"scope": None}),
    ("instance_url with a trailing slash", {"instance_url": INSTANCE + "/"}),
    ("instance_url plain http to 127.0.0.1", {"instance_url": "http://127.0.0.1:8080"}),
    ("instance_url plain http to localhost", {"instance_url": "http://localhost:8080"}),
    ("instance_url plain http to ::1", {"instance_url": "http://[::1]:8080"}),
    ("a token with spaces and quotes", {"access_token": TOKEN + " $(x) '\"`;"}),
]


@pytest.mark.parametrize("fields", [c[1] for c in ACCEPTED_200], ids=[c[0] for c in ACCEPTED_200])
def test_acceptable_success_answer(
    fields: dict[str, Any], org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    org.canned_responses.append(CannedResponse(200, answer(**fields), JSON))
    credential = run_cli(get_args(org, key), env).credential()
    assert credential["AccessToken"] == fields.get("access_token", TOKEN)
    assert credential["InstanceUrl"] == str(fields.get("instance_url") or INSTANCE).rstrip("/")
    assert credential["TokenType"] == "Bearer"
    assert credential["OrgId"] == ORG_ID


def test_header_format_is_one_line(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    run = run_cli(get_args(org, key, "--format", "header"), env)
    assert run.code == 0, run.stderr
    (line,) = run.stdout.splitlines()
    token = line.removeprefix("Authorization: Bearer ")
    assert token in org.sessions
    assert run.stdout == f"{line}\n"


@pytest.fixture
def http_org(app_key: rsa.RSAPrivateKey) -> Iterator[FaultyEmulator]:
    """The emulator over plain http on 127.0.0.1, as ``sf-credproc demo`` runs it."""
    with FaultyEmulator() as emulator:
        emulator.register_app(CLIENT_ID, pem_public(app_key))
        emulator.add_user(USERNAME, approve=[CLIENT_ID])
        yield emulator


def test_loopback_http_emulator_instance_url_is_accepted(
    http_org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    assert http_org.url.startswith("http://127.0.0.1:")
    credential = run_cli(get_args(http_org, key), env).credential()
    assert credential["InstanceUrl"] == http_org.url
    assert credential["Id"].startswith(f"{http_org.url}/id/")


class _RevokeRefuser(BaseHTTPRequestHandler):
    """Answers every POST with 400 and an OAuth ``error`` that is long and holds line breaks."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps({"error": "bad\r\nX-Forged: 1 " * 2000}).encode()
        self.send_response(400)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_hostile_revoke_error_is_one_bounded_printable_line() -> None:
    """``logout``'s refusal names the server's ``error``, reduced to one short printable line."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RevokeRefuser)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/services/oauth2/revoke"
        with pytest.raises(SalesforceRefusedError) as refused:
            revoke_token(TOKEN, endpoint, deadline=Deadline(10, SystemClock()), ca_bundle=None)
    finally:
        server.shutdown()
        server.server_close()
    message = refused.value.message
    assert message.isprintable() and "X-Forged" in message
    assert len(message) < len(endpoint) + 200
    assert TOKEN not in message
