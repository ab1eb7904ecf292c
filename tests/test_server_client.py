"""Clients of a running endpoint: ``get``, ``exec``, ``get_credential`` and ``SalesforceAuth`` with
``SF_CREDPROC_SERVER_URL`` (or ``SF_CREDPROC_SERVER_SOCKET``) and the server token, against a real
``sf-credproc serve`` process and the emulator.

The client's environment holds nothing else: no key, no client id, no config file, not even the
test CA (the endpoint is loopback http). The server runs with the usual test environment (``env``)
and a ``file:`` key.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from clocks import SkippingClock
from faulty_emulator import FaultyEmulator
from helpers import EXE, SECRETS, USERNAME, Run, base_env, get_args, run_cli, run_process
from serve_fixtures import (
    ServeProcess,
    endpoint_in_process,
    get_json,
    new_server_token,
    serve_args,
    wait_ready,
    wait_until,
    write_private,
)
from test_api import CaTrustingSession, query
from test_auth_refresh import LEFT, age_to, sent_token

from sf_credproc import SalesforceAuth, get_credential
from sf_credproc.config.serve_options import SERVER_SOCKET_ENV, SERVER_TOKEN_ENV, SERVER_URL_ENV
from sf_credproc.formats import render
from sf_credproc.server_answer import parse_credential


@pytest.fixture
def served(org: FaultyEmulator, key: str, env: dict[str, str]) -> Iterator[ServeProcess]:
    """``serve`` for the test org, ready (its first login done)."""
    with ServeProcess(serve_args(org, key), env) as server:
        wait_ready(server.url)
        yield server


def client_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    """A clean home of its own (no config, no cache) and ``variables``."""
    home = Path(tempfile.mkdtemp(prefix="client-home", dir=tmp_path))
    return {**base_env(home), **variables}


def endpoint_env(tmp_path: Path, server: ServeProcess) -> dict[str, str]:
    return client_env(tmp_path, **{SERVER_URL_ENV: server.url, SERVER_TOKEN_ENV: server.token})


def served_json(server: ServeProcess) -> str:
    """What the endpoint answers with ``?format=json``, as a ``get`` prints it."""
    return get_json(server.url, server.token, query={"format": "json"}).text


def test_get_with_only_the_two_variables_prints_the_served_credential(
    served: ServeProcess, org: FaultyEmulator, tmp_path: Path
) -> None:
    env = endpoint_env(tmp_path, served)
    run = run_cli(["get"], env)
    assert run.code == 0, run.stderr
    assert run.stdout == served_json(served)
    assert run.credential()["Username"] == USERNAME
    assert run.stderr == ""
    assert org.token_request_count == 1  # the endpoint's login, and no other


@pytest.mark.parametrize("fmt", ["token", "env", "sf", "header"])
def test_get_prints_each_format_locally(served: ServeProcess, tmp_path: Path, fmt: str) -> None:
    credential = parse_credential(served_json(served).encode())
    run = run_cli(["get", "--format", fmt], endpoint_env(tmp_path, served))
    assert run.code == 0, run.stderr
    assert run.stdout == render(credential, fmt)


def test_get_credential_through_the_endpoint(
    served: ServeProcess, org: FaultyEmulator, tmp_path: Path
) -> None:
    env = endpoint_env(tmp_path, served)
    credential = get_credential(environ=env)
    assert credential.to_json() + "\n" == served_json(served)
    assert get_credential(environ=env, username=USERNAME.upper()) == credential
    assert org.token_request_count == 1


def test_salesforce_auth_through_a_revoked_session_asks_the_endpoint_once(
    served: ServeProcess, org: FaultyEmulator, tmp_path: Path, ca_bundle: str
) -> None:
    auth = SalesforceAuth(environ=endpoint_env(tmp_path, served))
    with CaTrustingSession(ca_bundle) as http:
        first = query(http, org, auth)
        assert first.status_code == 200, first.text
        revoked = sent_token(first)
        org.revoke(revoked)  # an administrator ends the session
        second = query(http, org, auth)
    assert second.status_code == 200, second.text
    assert [answer.status_code for answer in second.history] == [401]
    assert sent_token(second) != revoked
    assert org.token_request_count == 2  # the endpoint logged in once more, for everyone
    assert auth.refreshes == 1
    assert auth.credential.access_token == sent_token(second)
    assert served_json(served) == auth.credential.to_json() + "\n"


def test_get_reports_a_rejected_token_to_the_endpoint(
    served: ServeProcess, org: FaultyEmulator, tmp_path: Path
) -> None:
    env = endpoint_env(tmp_path, served)
    old = run_cli(["get", "--format", "token"], env).stdout.strip()
    org.revoke(old)
    digest = hashlib.sha256(old.encode()).hexdigest()
    new = run_cli(["get", "--format", "token", "--rejected-sha256", digest], env)
    assert new.code == 0, new.stderr
    assert new.stdout.strip() != old
    assert org.token_request_count == 2


def test_plain_exec_takes_the_credential_from_the_endpoint(
    served: ServeProcess, tmp_path: Path
) -> None:
    script = "import os; print(os.environ['SF_INSTANCE_URL'], len(os.environ['SF_ACCESS_TOKEN']))"
    run = run_cli(["exec", "--", sys.executable, "-c", script], endpoint_env(tmp_path, served))
    assert run.code == 0, run.stderr
    credential = parse_credential(served_json(served).encode())
    assert run.stdout == f"{credential.instance_url} {len(credential.access_token)}\n"


def test_a_wrong_token_is_exit_2_without_any_token(served: ServeProcess, tmp_path: Path) -> None:
    wrong = new_server_token()
    env = client_env(tmp_path, **{SERVER_URL_ENV: served.url, SERVER_TOKEN_ENV: wrong})
    run = run_cli(["get"], env)
    run.assert_failed(2, "401", SERVER_URL_ENV, SERVER_TOKEN_ENV)
    assert wrong not in run.stderr and served.token not in run.stderr  # run_cli checks SECRETS too


def test_another_username_is_refused(served: ServeProcess, tmp_path: Path) -> None:
    env = endpoint_env(tmp_path, served)
    run = run_cli(["get", "--username", "someone@else.example"], env)
    run.assert_failed(2, "someone@else.example", USERNAME, "--username")


def test_the_server_down_is_exit_5_within_the_deadline(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    with ServeProcess(serve_args(org, key), env) as server:
        client = endpoint_env(tmp_path, server)
        server.terminate()
        assert server.wait() == 0
    started = time.monotonic()
    run_cli(["get", "--timeout", "5"], client).assert_failed(5, SERVER_URL_ENV, "serve")
    assert time.monotonic() - started < 30


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A directory with a short path: a Unix socket's path is limited to about 100 bytes."""
    with tempfile.TemporaryDirectory(prefix="sfc") as name:
        yield Path(name)


def test_the_unix_socket_variant(
    org: FaultyEmulator, key: str, env: dict[str, str], socket_dir: Path, tmp_path: Path
) -> None:
    path = socket_dir / "serve.sock"
    with ServeProcess(serve_args(org, key, "--socket", str(path)), env) as server:
        variables = {SERVER_SOCKET_ENV: str(path), SERVER_TOKEN_ENV: server.token}
        client = client_env(tmp_path, **variables)
        run = run_cli(["get"], client)
        assert run.code == 0, run.stderr
        assert run.stdout == get_json(server.url, server.token, query={"format": "json"}).text
        assert get_credential(environ=client).to_json() + "\n" == run.stdout
        wrong = {**client, SERVER_TOKEN_ENV: new_server_token()}
        run_cli(["get"], wrong).assert_failed(2, SERVER_SOCKET_ENV, "401")
        server.terminate()
        assert server.wait() == 0
    run_cli(["get"], client).assert_failed(5, SERVER_SOCKET_ENV, "serve")
    assert org.token_request_count == 1


def test_the_endpoints_token_never_reaches_the_output(served: ServeProcess, tmp_path: Path) -> None:
    assert served.token in SECRETS
    run: Run = run_cli(["get", "-v"], endpoint_env(tmp_path, served))
    assert run.code == 0, run.stderr
    assert served.token not in run.stderr and served.token not in run.stdout
    assert "credential from the endpoint" in run.stderr


def test_https_is_verified_with_the_ca_bundle_setting(
    org: FaultyEmulator,
    key: str,
    env: dict[str, str],
    ca: trustme.CA,
    ca_bundle: str,
    tmp_path: Path,
) -> None:
    cert = ca.issue_cert("127.0.0.1")
    cert_path = tmp_path / "endpoint.pem"
    cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key_path = write_private(tmp_path / "endpoint-key.pem", cert.private_key_pem.bytes())
    tls = ["--listen", "127.0.0.1:0", "--tls-cert", str(cert_path), "--tls-key", str(key_path)]
    with ServeProcess(serve_args(org, key, *tls), env) as server:
        assert server.url.startswith("https://127.0.0.1:"), server.url
        client = endpoint_env(tmp_path, server)
        run_cli(["get"], client).assert_failed(2, SERVER_URL_ENV, "could not be verified")
        run = run_cli(["get", "--format", "token"], {**client, "REQUESTS_CA_BUNDLE": ca_bundle})
        assert run.code == 0, run.stderr
        assert get_credential(environ={**client, "SSL_CERT_FILE": ca_bundle}).access_token == (
            run.stdout.strip()
        )
    assert org.token_request_count == 1


def test_get_and_exec_in_a_child_of_exec_server_need_no_key(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    script = (
        "import os, subprocess, sys\n"
        "exe = sys.argv[1]\n"
        "def out(*args):\n"
        "    return subprocess.run([exe, *args], capture_output=True, text=True, check=True)"
        ".stdout.strip()\n"
        "got = out('get', '--format', 'token')\n"
        "show = 'import os; print(os.environ[\"SF_ACCESS_TOKEN\"])'\n"
        "passed = out('exec', '--', sys.executable, '-c', show)\n"
        "print(got == passed == os.environ['SF_ACCESS_TOKEN'])\n"
    )
    args = ["exec", "--server", *get_args(org, key)[1:], "--", sys.executable, "-c", script]
    run = run_process([*args, str(EXE)], env)
    assert (run.code, run.stdout) == (0, "True\n"), run.stderr
    assert org.token_request_count == 1


def test_salesforce_auth_asks_again_once_the_endpoint_has_refreshed(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    clock = SkippingClock()  # the endpoint's and the client's: both see the token age
    with endpoint_in_process(org, key, env, clock=clock) as served:
        variables = {SERVER_URL_ENV: served.url, SERVER_TOKEN_ENV: served.token}
        auth = SalesforceAuth(environ=client_env(tmp_path, **variables), clock=clock)
        first = auth.credential
        assert auth.credential is first  # fresh: held, not asked for again
        age_to(clock, first, LEFT["advisory"])  # inside both advisory windows
        wait_until(lambda: served.endpoint.keeper.refreshes == 1, "the endpoint's refresh")
        second = auth.credential
        assert second.access_token != first.access_token
        assert second.expiration > first.expiration
        assert auth.refreshes == 1
        assert auth.credential is second
    assert org.token_request_count == 2


def test_without_an_endpoint_get_never_loads_its_client(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    """The endpoint's client (and the ``ssl`` it brings) loads only when a variable names an
    endpoint: the full ``get`` command (not the fast path) on a cache hit does without it."""
    import subprocess

    args = get_args(org, key)
    assert run_process(args, env).code == 0  # the login; the next get is a cache hit
    report = (
        "import sys; from sf_credproc.cli.main import main; code = main(sys.argv[1:]); "
        "loaded = sorted(m for m in ('sf_credproc.cli.get_command', 'sf_credproc.server_client') "
        "if m in sys.modules); sys.stderr.write(f'\\nloaded: {loaded}\\n'); sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", report, *args],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.splitlines()[-1] == "loaded: ['sf_credproc.cli.get_command']"
    assert org.token_request_count == 1
