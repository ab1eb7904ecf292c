"""``sf-credproc serve`` over its life: errors from obtaining, compare-and-refresh, signals.

Errors map to statuses by exit code (500 for 2 and 1, 502 for 3 and 4, 503 with ``Retry-After`` for
5); N clients reporting the same dead token cause one login; SIGTERM drains the requests in flight
and exits 0 (the documented exception to 143), SIGINT exits 130, SIGHUP re-reads the config file,
keeping the old settings when the new ones are invalid and dropping the token held when the
identity changed. A request "in flight" is one waiting for a login the emulator holds at its gate.
"""

from __future__ import annotations

import hashlib
import re
import signal
import threading
from pathlib import Path

import pytest
from faulty_emulator import CannedResponse, FaultyEmulator
from helpers import CLIENT_ID, USERNAME, get_args, run_cli
from serve_fixtures import (  # noqa: F401 (fixtures)
    Answer,
    ServeProcess,
    assert_error,
    connection_for,
    get_json,
    held_org,
    holding_emulator,
    read_answer,
    refuses_connections,
    request,
    send_request,
    serve_args,
    wait_until,
    write_private,
)
from test_auth_refresh import HoldingEmulator
from test_hostile_files import cache_dir

CLIENTS = 50
IN_FLIGHT = 5
OTHER_USER = "reports@acme.example"
TRANSIENT_KINDS = ("TransientError", "LoginRateLimited", "LoginRateExceeded", "CoolingDown")


def assert_retry_after(answer: Answer) -> None:
    value = answer.header("Retry-After")
    assert value is not None and re.fullmatch(r"\d+", value), answer.headers


# --- errors from obtaining -----------------------------------------------------------------------


def test_a_key_that_cannot_be_read_is_502_code_3(
    org: FaultyEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    broken = write_private(tmp_path / "broken-key.pem", b"not a key at all\n")
    with ServeProcess(serve_args(org, f"file:{broken}", "--no-access-log"), env) as served:
        answer = request(served.url, served.token)
        assert_error(answer, 502, "KeySourceError", code=3)
        assert get_json(served.url, None, path="/healthz").json() == {"ready": False}
        assert served.running()
    assert org.token_request_count == 0


def test_a_refused_assertion_is_502_code_4(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    org.add_user(USERNAME, approve=[])  # the user has not approved the app
    with ServeProcess(serve_args(org, key, "--no-access-log"), env) as served:
        answer = request(served.url, served.token)
        assert_error(answer, 502, "SalesforceRefusedError", code=4)
        assert "approved" in answer.json()["message"]
        assert served.running()


def test_a_configuration_error_from_obtaining_is_500_code_2(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    """A cache lock that is not a regular file cannot exclude anyone: a configuration error
    (exit 2) the first time the endpoint obtains a credential."""
    assert run_cli(get_args(org, key), env).code == 0  # makes the identity's entry and lock
    directory = cache_dir(env)
    (lock,) = directory.glob("*.lock")
    (entry,) = directory.glob("*.cred")
    entry.unlink()
    lock.unlink()
    lock.mkdir()
    with ServeProcess(serve_args(org, key, "--no-access-log"), env) as served:
        answer = request(served.url, served.token)
        assert_error(answer, 500, "ConfigError", code=2)
        assert served.running()
    assert org.token_request_count == 1


def test_salesforce_down_is_503_with_retry_after_then_recovers(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    org.canned_responses.extend([CannedResponse(503, b"<html>Maintenance</html>")] * 400)
    with ServeProcess(serve_args(org, key, "--no-access-log"), env) as served:
        answer = request(served.url, served.token)
        assert_error(answer, 503, TRANSIENT_KINDS, code=5)
        assert_retry_after(answer)
        with org.lock:
            org.canned_responses.clear()
        # Recovered: the background refresher or this request logs in.
        wait_until(
            lambda: request(served.url, served.token).status == 200, "a credential after recovery"
        )
        assert get_json(served.url, served.token).json()["Username"] == USERNAME


def test_the_login_rate_limit_is_503_with_retry_after(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    org.login_limit_per_hour = 0
    with ServeProcess(serve_args(org, key, "--no-access-log"), env) as served:
        answer = request(served.url, served.token)
        assert_error(answer, 503, TRANSIENT_KINDS, code=5)
        assert_retry_after(answer)


# --- compare-and-refresh -------------------------------------------------------------------------


def test_fifty_clients_reporting_one_revoked_token_cause_one_login(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    with ServeProcess(serve_args(org, key, "--no-access-log"), env) as served:
        old = get_json(served.url, served.token).json()["AccessToken"]
        logins = org.token_request_count
        with org.lock:
            org.revoke(old)
        rejected = hashlib.sha256(old.encode()).hexdigest()
        barrier = threading.Barrier(CLIENTS)
        answers: list[Answer | None] = [None] * CLIENTS

        def client(index: int) -> None:
            barrier.wait()
            answers[index] = request(
                served.url, served.token, query={"rejected_sha256": rejected}, timeout=120
            )

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
            assert not thread.is_alive()
        statuses = [answer.status if answer else None for answer in answers]
        assert statuses == [200] * CLIENTS, statuses
        tokens = {answer.json()["AccessToken"] for answer in answers if answer}
        assert len(tokens) == 1, "the clients got different tokens"
        (new,) = tokens
        assert new != old
        with org.lock:
            assert org.session_for(new) is not None
        assert org.token_request_count == logins + 1
        # A late client with the same report gets the new token, without a login.
        late = get_json(served.url, served.token, query={"rejected_sha256": rejected})
        assert late.json()["AccessToken"] == new
        assert org.token_request_count == logins + 1


# --- signals -------------------------------------------------------------------------------------


def test_sigterm_lets_the_requests_in_flight_finish_then_exits_0(
    held_org: HoldingEmulator,  # noqa: F811
    key: str,
    env: dict[str, str],
) -> None:
    held_org.gate.clear()
    with ServeProcess(serve_args(held_org, key), env) as served:
        assert held_org.held.wait(60), served.stderr_text()  # the first login waits at the gate
        connections = [connection_for(served.url) for _ in range(IN_FLIGHT)]
        for connection in connections:  # accepted by the server: it answered on each
            assert request(served.url, None, path="/healthz", connection=connection).status == 200
        for connection in connections:
            send_request(connection, served.url, served.token)
        answers: list[Answer | None] = [None] * IN_FLIGHT

        def wait_for_answer(index: int) -> None:
            answers[index] = read_answer(connections[index])

        threads = [threading.Thread(target=wait_for_answer, args=(i,)) for i in range(IN_FLIGHT)]
        for thread in threads:
            thread.start()
        # One more round trip: the server's loop has read the requests sent before it.
        assert get_json(served.url, None, path="/healthz").json() == {"ready": False}
        served.terminate()
        wait_until(lambda: refuses_connections(served.url), "no new connection after SIGTERM")
        assert served.running(), "exited with requests in flight"
        held_org.gate.set()
        for thread in threads:
            thread.join(timeout=120)
            assert not thread.is_alive()
        code = served.wait()
        assert code == 0, served.stderr_text()
        for answer in answers:
            assert answer is not None and answer.status == 200, answer
            assert answer.json()["Username"] == USERNAME
        for connection in connections:
            connection.close()
    assert held_org.token_request_count == 1


def test_sigint_exits_130(org: FaultyEmulator, key: str, env: dict[str, str]) -> None:
    with ServeProcess(serve_args(org, key, "--no-access-log"), env) as served:
        assert get_json(served.url, served.token).status == 200
        served.signal(signal.SIGINT)
        assert served.wait() == 130, served.stderr_text()
    assert refuses_connections(served.url)


def test_sigterm_of_an_idle_server_exits_0(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    with ServeProcess(serve_args(org, key, "--no-access-log"), env) as served:
        connection = connection_for(served.url)  # an idle keep-alive connection does not hold it
        assert request(served.url, served.token, connection=connection).status == 200
        served.terminate()
        assert served.wait() == 0, served.stderr_text()
        assert served.rest_of_stdout() == ""
        connection.close()


def write_config(path: Path, emulator: FaultyEmulator, key: str, username: str) -> None:
    path.write_text(
        "[profile.default]\n"
        f'client_id = "{CLIENT_ID}"\n'
        f'username = "{username}"\n'
        f'login_url = "{emulator.url}"\n'
        f'key = "{key}"\n'
    )


@pytest.fixture
def configured(org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path) -> Path:
    """``env`` reads its settings from a config file (returned), naming the test org."""
    path = tmp_path / "config.toml"
    write_config(path, org, key, USERNAME)
    env["SF_CREDPROC_CONFIG"] = str(path)
    return path


def test_sighup_with_a_broken_config_keeps_serving_and_says_one_line(
    org: FaultyEmulator, env: dict[str, str], configured: Path
) -> None:
    with ServeProcess(["serve", "--no-access-log"], env) as served:
        token = get_json(served.url, served.token).json()["AccessToken"]
        before = len(served.stderr_lines())
        configured.write_text("[profile.default\nusername = \n")
        served.signal(signal.SIGHUP)
        lines = served.wait_for_stderr(lambda lines: len(lines) > before, "the reload's error")
        answer = get_json(served.url, served.token)
        assert answer.status == 200, answer
        assert answer.json()["AccessToken"] == token
        assert served.running()
        lines = served.stderr_lines()[before:]
        assert len(lines) == 1, lines
        assert lines[0].startswith("sf-credproc: "), lines
        assert str(configured) in lines[0] or "config" in lines[0], lines
    assert org.token_request_count == 1


def test_sighup_with_the_same_identity_keeps_the_token(
    org: FaultyEmulator, key: str, env: dict[str, str], configured: Path
) -> None:
    with ServeProcess(["serve", "--no-access-log"], env) as served:
        token = get_json(served.url, served.token).json()["AccessToken"]
        served.signal(signal.SIGHUP)
        # The reload leaves nothing to wait for: a few answers after it, all the same token.
        for _ in range(5):
            assert get_json(served.url, served.token).json()["AccessToken"] == token
        assert served.running()
    assert org.token_request_count == 1


def test_sighup_with_another_username_serves_the_new_identity(
    org: FaultyEmulator, key: str, env: dict[str, str], configured: Path
) -> None:
    org.add_user(OTHER_USER, approve=[CLIENT_ID])
    with ServeProcess(["serve", "--no-access-log"], env) as served:
        old = get_json(served.url, served.token).json()
        assert old["Username"] == USERNAME
        write_config(configured, org, key, OTHER_USER)
        served.signal(signal.SIGHUP)
        seen: list[str] = []

        def switched() -> bool:
            document = get_json(served.url, served.token).json()
            seen.append(document["Username"])
            return bool(document["Username"] == OTHER_USER)

        wait_until(switched, "the new identity's token after SIGHUP")
        # Once switched, never the old user's token again.
        for _ in range(5):
            assert get_json(served.url, served.token).json()["Username"] == OTHER_USER
        assert set(seen) <= {USERNAME, OTHER_USER}
    with org.lock:
        logins = [r for r in org.token_requests if r.claims and r.status == 200]
        by_user = [r.claims["sub"] for r in logins if r.claims]
    assert by_user.count(OTHER_USER) == 1, by_user
    assert by_user.count(USERNAME) == 1, by_user
