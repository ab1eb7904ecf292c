"""The Python API and SalesforceAuth against the emulator, in this process."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from clocks import SkippingClock
from helpers import CLIENT_ID, USERNAME

import sf_credproc
from sf_credproc import (
    ConfigError,
    Credential,
    ExitStatus,
    KeySourceError,
    SalesforceAuth,
    SalesforceRefusedError,
    SessionInvalidError,
    Settings,
    get_credential,
)
from sf_credproc.emulator import SalesforceEmulator


@pytest.fixture
def options(org: SalesforceEmulator, key_file: Path, env: dict[str, str]) -> dict[str, Any]:
    return {
        "client_id": CLIENT_ID,
        "username": USERNAME,
        "login_url": org.url,
        "key": f"file:{key_file}",
        "environ": env,
    }


def test_get_credential_and_the_cache(org: SalesforceEmulator, options: dict[str, Any]) -> None:
    credential = get_credential(**options)
    assert isinstance(credential, Credential)
    assert credential.access_token in org.sessions
    assert credential.username == USERNAME and credential.org_id == org.org_id
    assert 7190 < credential.seconds_left() <= 7200
    assert credential.access_token not in repr(credential)
    with pytest.raises(dataclasses.FrozenInstanceError):
        credential.access_token = "x"  # type: ignore[misc]
    assert get_credential(**options) == credential  # from the cache
    assert org.token_request_count == 1


def test_settings_from_a_profile(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    config = Path(env["XDG_CONFIG_HOME"]) / "sf-credproc" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f'[profile.prod]\nclient_id = "{CLIENT_ID}"\nusername = "{USERNAME}"\n'
        f'login_url = "{org.url}"\nkey = "file:{key_file}"\nsession_ttl = 1800\n'
    )
    settings = Settings.from_profile("prod", environ=env)
    assert settings.session_ttl_seconds == 1800 and settings.profile == "prod"
    assert Settings.from_profile("prod", environ=env, session_ttl=900).session_ttl_seconds == 900
    credential = get_credential(settings, environ=env)
    assert credential.seconds_left() <= 1800


def test_errors_carry_the_exit_codes(org: SalesforceEmulator, options: dict[str, Any]) -> None:
    with pytest.raises(KeySourceError) as missing:
        get_credential(**{**options, "key": "file:/nonexistent.pem"})
    assert missing.value.exit_status == ExitStatus.KEY_SOURCE
    org.users[USERNAME].approved_apps.clear()
    with pytest.raises(SalesforceRefusedError, match="hasn't approved") as refused:
        get_credential(**options)
    assert refused.value.exit_status == 4
    with pytest.raises(ConfigError, match="session_ttl="):
        get_credential(**{**options, "session_ttl": "forever"})
    with pytest.raises(TypeError, match="client_secret"):
        get_credential(**options, client_secret="x")


def test_the_package_imports_lazily() -> None:
    assert set(sf_credproc.__all__) >= {
        "get_credential",
        "SalesforceAuth",
        "Settings",
        "Credential",
    }
    with pytest.raises(AttributeError):
        sf_credproc.nothing_here  # noqa: B018


class CaTrustingSession(requests.Session):
    """A session that trusts the emulator's test CA on every request (an explicit ``verify``
    beats REQUESTS_CA_BUNDLE from the environment; a session attribute does not)."""

    def __init__(self, ca_bundle: str) -> None:
        super().__init__()
        self.ca_bundle = ca_bundle

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("verify", self.ca_bundle)
        kwargs.setdefault("timeout", 30)
        return super().request(*args, **kwargs)


@pytest.fixture
def session(ca_bundle: str) -> Iterator[requests.Session]:
    with CaTrustingSession(ca_bundle) as http:
        yield http


def query(
    http: requests.Session, org: SalesforceEmulator, auth: SalesforceAuth
) -> requests.Response:
    return http.get(
        f"{org.url}/services/data/v62.0/query",
        params={"q": "SELECT Id, Name FROM Organization"},
        auth=auth,
    )


def test_auth_normal_calls(
    org: SalesforceEmulator, options: dict[str, Any], session: requests.Session
) -> None:
    auth = SalesforceAuth(**options)
    versions = session.get(f"{org.url}/services/data/v62.0/", auth=auth)
    assert versions.status_code == 200 and "query" in versions.json()
    for _ in range(3):
        answer = query(session, org, auth)
        assert answer.status_code == 200
        assert answer.json()["records"][0]["Id"] == org.org_id
    assert org.token_request_count == 1 and auth.refreshes == 0


def test_auth_refreshes_ahead_of_expiry(
    org: SalesforceEmulator, options: dict[str, Any], session: requests.Session
) -> None:
    clock = SkippingClock()
    auth = SalesforceAuth(clock=clock, **options)
    first = auth.credential.access_token
    assert query(session, org, auth).status_code == 200
    clock.advance(7200 - 900 + 1)  # less than --min-ttl (900 s) left: never used again
    assert query(session, org, auth).status_code == 200
    assert auth.credential.access_token != first
    assert org.token_request_count == 2


def test_auth_survives_a_revoked_session(
    org: SalesforceEmulator, options: dict[str, Any], session: requests.Session
) -> None:
    auth = SalesforceAuth(**options)
    assert query(session, org, auth).status_code == 200
    revoked = auth.credential.access_token
    org.revoke(revoked)  # an administrator ends the session
    answer = query(session, org, auth)
    assert answer.status_code == 200
    assert [r.status_code for r in answer.history] == [401]
    assert auth.refreshes == 1 and auth.credential.access_token != revoked
    assert org.token_request_count == 2


def test_auth_gives_up_after_one_replay(
    org: SalesforceEmulator, options: dict[str, Any], session: requests.Session
) -> None:
    auth = SalesforceAuth(**options)
    assert query(session, org, auth).status_code == 200
    for app in org.apps.values():
        app.session_ttl_seconds = 0  # from now on every new session is dead on arrival
    org.revoke(auth.credential.access_token)
    with pytest.raises(SessionInvalidError, match="fresh session too"):
        query(session, org, auth)
    assert org.token_request_count == 2  # one refresh, no loop


def test_auth_will_not_replay_a_stream(
    org: SalesforceEmulator, options: dict[str, Any], session: requests.Session
) -> None:
    auth = SalesforceAuth(**options)
    assert query(session, org, auth).status_code == 200
    org.revoke(auth.credential.access_token)
    body = (chunk for chunk in [b"a", b"b"])
    with pytest.raises(SessionInvalidError, match="cannot be sent twice"):
        session.post(f"{org.url}/services/data/v62.0/query", data=body, auth=auth)


def test_fifty_threads_one_refresh(
    org: SalesforceEmulator, options: dict[str, Any], session: requests.Session, ca_bundle: str
) -> None:
    auth = SalesforceAuth(**options)
    assert query(session, org, auth).status_code == 200
    org.revoke(auth.credential.access_token)
    statuses: list[int] = []
    barrier = threading.Barrier(50)

    def call() -> None:
        with CaTrustingSession(ca_bundle) as http:
            barrier.wait()
            statuses.append(query(http, org, auth).status_code)

    threads = [threading.Thread(target=call) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses == [200] * 50
    assert auth.refreshes == 1
    assert org.token_request_count == 2
