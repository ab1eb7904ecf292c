"""simple-salesforce, the real client: the recipe ``examples/simple_salesforce_query.py`` as written
against ``sf-credproc emulator --https`` (and one clear line against the plain-http emulator), and
simple-salesforce's own JWT bearer login, which signs its own assertion, against the emulator under
Salesforce's real login host (through the CONNECT proxy)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from connect_proxy import ConnectProxy
from emulator_process import emulator_process, shell, shell_env
from helpers import CLIENT_ID, USERNAME, Run, assert_no_leaks

from sf_credproc.emulator import SalesforceEmulator

RECIPE = Path(__file__).resolve().parents[1] / "examples" / "simple_salesforce_query.py"


def test_the_recipe_runs_as_written_against_the_https_emulator(tmp_path: Path) -> None:
    env = shell_env(tmp_path)
    with emulator_process(["--https"], env) as emulator:
        env.update(emulator.settings())
        # As a reader runs it: the printed trust line pasted, then the recipe.
        done = shell(f"{emulator.trust}\n{sys.executable} {RECIPE}", env)
        assert done.returncode == 0, done.stderr
        credential = Run(*_completed(shell(emulator.lines["try"], env))).credential()
    assert done.stderr == ""
    assert done.stdout == f"{credential['OrgId']} sf-credproc emulated org\n"


def test_the_recipe_against_the_http_emulator_is_one_line_not_a_traceback(
    tmp_path: Path,
) -> None:
    """simple-salesforce builds every URL as https://HOST:PORT: against plain http it failed deep
    inside requests (WRONG_VERSION_NUMBER). The recipe says why, in one line."""
    env = shell_env(tmp_path)
    with emulator_process([], env) as emulator:
        env.update(emulator.settings())
        done = shell(f"{sys.executable} {RECIPE}", env)
    assert (done.returncode, done.stdout) == (1, "")
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "https only" in done.stderr and "sf-credproc emulator --https" in done.stderr
    assert emulator.url in done.stderr


def test_the_recipe_says_a_missing_setting_in_one_line(tmp_path: Path) -> None:
    done = shell(f"{sys.executable} {RECIPE}", shell_env(tmp_path))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("sf-credproc: ") and len(done.stderr.splitlines()) == 1


def _completed(done: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    return done.returncode, done.stdout, done.stderr


#: simple-salesforce's own JWT bearer login (it signs the assertion, with ``exp`` as a string of
#: digits), then a query with the session it got.
JWT_LOGIN = """
import sys
from simple_salesforce import Salesforce

username, consumer_key, key_file = sys.argv[1:]
salesforce = Salesforce(
    username=username, consumer_key=consumer_key, privatekey_file=key_file, domain="login"
)
print(salesforce.query("SELECT Id, Name FROM Organization")["records"][0]["Id"])
"""


@pytest.fixture
def proxy(org: SalesforceEmulator) -> Iterator[ConnectProxy]:
    tunnel = ConnectProxy(int(org.url.rsplit(":", 1)[1])).start()
    yield tunnel
    tunnel.stop()


def test_simple_salesforce_jwt_login_is_accepted_under_the_real_login_host(
    org: SalesforceEmulator,
    env: dict[str, str],
    key_file: Path,
    ca_bundle: str,
    proxy: ConnectProxy,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", JWT_LOGIN, USERNAME, CLIENT_ID, str(key_file)],
        env={**env, "HTTPS_PROXY": proxy.url, "REQUESTS_CA_BUNDLE": ca_bundle},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert_no_leaks(Run(*_completed(done)))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{org.org_id}\n"
    assert proxy.requested_hosts[0] == "login.salesforce.com:443"
    (login,) = org.token_requests
    assert login.status == 200 and login.claims is not None
    # What simple-salesforce signed: Salesforce's production audience and a string exp.
    assert login.claims["aud"] == "https://login.salesforce.com"
    assert isinstance(login.claims["exp"], str) and re.fullmatch(r"\d+", login.claims["exp"])
    assert (login.claims["iss"], login.claims["sub"]) == (CLIENT_ID, USERNAME)
