"""The endpoint's access log: one line per request, never a secret.

Every request is one ``access`` event (shown without ``-v`` for ``serve``): ``method``, ``path``
without its query, ``status``, ``duration_ms``, and ``token`` = the fingerprint of the access token
served, when one was. Never the access token, never the server token (nor a wrong one a client
sent), never a query value. The leak checker runs over the whole stderr, text and JSON.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from faulty_emulator import FaultyEmulator
from helpers import SECRETS
from serve_fixtures import ServeProcess, assert_no_secret_in, get_json, request, serve_args

from sf_credproc import log

ACCESS_FIELDS = {"method", "path", "status", "duration_ms"}
#: A query value that must never reach the log (an unknown format: a 400).
QUERY_VALUE = "queryvalue-6f1e0c2a"


def make_requests(served: ServeProcess) -> tuple[list[tuple[str, str, int]], str]:
    """A mix of answers: 200 in two formats, compare-and-refresh, 400, 401, 404, 405, 421 and
    /healthz. Returns (method, path, status) of each request, and the access token served."""
    made: list[tuple[str, str, int]] = []
    access_token = get_json(served.url, served.token).json()["AccessToken"]
    made.append(("GET", "/credential", 200))
    answer = request(served.url, served.token, query={"format": "token"})
    made.append(("GET", "/credential", answer.status))
    other = hashlib.sha256(b"a token replaced before").hexdigest()
    answer = request(served.url, served.token, query={"rejected_sha256": other})
    made.append(("GET", "/credential", answer.status))
    answer = request(served.url, served.token, query={"format": QUERY_VALUE})
    made.append(("GET", "/credential", answer.status))
    near_miss = served.token[:-1] + ("A" if served.token[-1] != "A" else "B")
    SECRETS.add(near_miss)
    answer = request(served.url, near_miss)
    made.append(("GET", "/credential", answer.status))
    answer = request(served.url, served.token, path="/nothing-here")
    made.append(("GET", "/nothing-here", answer.status))
    answer = request(served.url, served.token, method="POST")
    made.append(("POST", "/credential", answer.status))
    answer = request(served.url, served.token, host="evil.example")
    made.append(("GET", "/credential", answer.status))
    answer = request(served.url, None, path="/healthz")
    made.append(("GET", "/healthz", answer.status))
    statuses = [status for *_, status in made]
    assert statuses[:7] == [200, 200, 200, 400, 401, 404, 405], made
    assert statuses[7] in (421, 400), made
    assert statuses[8] == 200, made
    return made, access_token


def stopped_stderr(served: ServeProcess) -> str:
    served.terminate()
    assert served.wait() == 0, served.stderr_text()
    stderr = served.stderr_text()
    assert_no_secret_in(stderr)
    assert served.token not in stderr
    assert QUERY_VALUE not in stderr
    assert "Traceback" not in stderr
    return stderr


def test_text_access_lines_name_each_request_and_no_secret(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    with ServeProcess(serve_args(org, key), env) as served:
        made, access_token = make_requests(served)
        stderr = stopped_stderr(served)
    assert access_token.split("!", 1)[-1] not in stderr
    lines = stderr.splitlines()
    assert all(line.startswith("sf-credproc: ") for line in lines), lines
    paths = (" /credential", " /healthz", " /nothing-here")
    access = [line for line in lines if any(path in line for path in paths)]
    assert len(access) == len(made), lines
    assert all("?" not in line for line in access), access
    assert any(log.fingerprint(access_token) in line for line in access), access


def test_json_access_lines_parse_and_carry_the_documented_fields(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    with ServeProcess(serve_args(org, key, "--log-format", "json"), env) as served:
        made, access_token = make_requests(served)
        stderr = stopped_stderr(served)
    events: list[dict[str, Any]] = [json.loads(line) for line in stderr.splitlines()]
    access = [event for event in events if event.get("event") == "access"]
    assert len(access) == len(made), events
    for event, (method, path, status) in zip(access, made, strict=True):
        assert set(event) >= ACCESS_FIELDS, event
        assert (event["method"], event["path"], event["status"]) == (method, path, status), event
        assert isinstance(event["duration_ms"], (int, float)) and event["duration_ms"] >= 0
        if "token" in event:
            assert event["token"] == log.fingerprint(access_token), event
    served_ok = [
        event for event in access if event["status"] == 200 and event["path"] == "/credential"
    ]
    assert served_ok and all(
        event.get("token") == log.fingerprint(access_token) for event in served_ok
    )
    refused = [event for event in access if event["status"] >= 400]
    assert all("token" not in event for event in refused), refused


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_access_log_writes_no_access_line(
    org: FaultyEmulator, key: str, env: dict[str, str], log_format: str
) -> None:
    args = serve_args(org, key, "--no-access-log", "--log-format", log_format)
    with ServeProcess(args, env) as served:
        make_requests(served)
        stderr = stopped_stderr(served)
    assert "/credential" not in stderr, stderr
    assert "/healthz" not in stderr, stderr
