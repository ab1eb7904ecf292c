"""``sf-credproc doctor`` on a healthy set-up and on each common mistake."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import CLIENT_ID, USERNAME, get_args, pem_private, pem_public, run_cli, throwaway_key

from sf_credproc.emulator import SalesforceEmulator


@pytest.fixture
def cert_file(env: dict[str, str], key_file: Path, tmp_path: Path) -> Path:
    path = tmp_path / "connected-app.pem"
    run = run_cli(["cert", "--key", f"file:{key_file}", "--out", str(path)], env)
    assert run.code == 0, run.stderr
    return path


def doctor(
    org: SalesforceEmulator, env: dict[str, str], key: str, *extra: str
) -> tuple[int, dict[str, Any], str]:
    args = ["doctor", *get_args(org, key)[1:], *extra]
    as_json = run_cli([*args, "--json"], env)
    as_text = run_cli(args, env)
    assert as_json.code == as_text.code
    report: dict[str, dict[str, Any]] = {c["name"]: c for c in json.loads(as_json.stdout)["checks"]}
    for output in (as_json.stdout, as_text.stdout, as_json.stderr, as_text.stderr):
        for token in org.sessions:
            assert token not in output  # never a secret
    return as_json.code, report, as_text.stdout


def test_healthy_setup(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, cert_file: Path
) -> None:
    code, report, text = doctor(org, env, f"file:{key_file}", "--cert", str(cert_file))
    assert code == 0
    assert list(report) == [
        "configuration", "login URL", "key", "certificate", "clock", "login rate",
        "token exchange", "cache",
    ]  # fmt: skip
    assert {c["status"] for c in report.values()} == {"ok"}
    assert "client_id from --client-id" in report["configuration"]["detail"]
    assert "RSA 2048-bit" in report["key"]["detail"]
    assert "matches the key" in report["certificate"]["detail"]
    assert "sha256:" in report["token exchange"]["detail"]
    assert text.rstrip().endswith("all checks passed")
    assert len(org.token_requests) == 2  # one real exchange per doctor run (json and text)


def test_mismatched_certificate(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-key.pem"
    other.write_bytes(pem_private(throwaway_key()))
    wrong = tmp_path / "wrong.pem"
    assert run_cli(["cert", "--key", f"file:{other}", "--out", str(wrong)], env).code == 0
    code, report, text = doctor(org, env, f"file:{key_file}", "--cert", str(wrong))
    assert code == 4
    assert report["certificate"]["status"] == "FAILED"
    assert "does not match the key" in report["certificate"]["detail"]
    assert "sf-credproc cert" in report["certificate"]["fix"]
    for step in ("connected app", "Use digital signatures", "External Client App", "JWT Bearer"):
        assert step in report["certificate"]["fix"]
    assert report["token exchange"]["status"] == "ok"  # the app itself holds the right one
    assert "fix: Make the certificate from this key" in text


def test_user_not_pre_authorized(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    org.users[USERNAME].approved_apps.clear()
    code, report, _ = doctor(org, env, f"file:{key_file}")
    assert code == 4
    exchange = report["token exchange"]
    assert exchange["status"] == "FAILED"
    assert "user hasn't approved this consumer" in exchange["detail"]
    assert "Permitted Users" in exchange["fix"]
    assert report["certificate"]["status"] == "skipped"


def test_wrong_audience(org: SalesforceEmulator, env: dict[str, str], key_file: Path) -> None:
    org.use_sandbox_audience()
    code, report, _ = doctor(
        org, env, f"file:{key_file}", "--audience", "https://login.salesforce.com"
    )
    assert code == 4
    assert "audience is invalid" in report["token exchange"]["detail"]
    assert "--audience" in report["token exchange"]["fix"]
    assert "(from --audience)" in report["login URL"]["detail"]


def test_skewed_clock(org: SalesforceEmulator, env: dict[str, str], key_file: Path) -> None:
    org.clock = lambda: time.time() + 600  # Salesforce ten minutes ahead: we are behind
    try:
        code, report, _ = doctor(org, env, f"file:{key_file}")
    finally:
        org.clock = time.time
    assert code == 4
    assert report["clock"]["status"] == "FAILED"
    assert "behind" in report["clock"]["detail"]
    assert "NTP" in report["clock"]["fix"]
    assert "expired authorization code" in report["token exchange"]["detail"]


def test_cache_directory_writable_by_others(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    shared.chmod(0o777)
    code, report, _ = doctor(org, env, f"file:{key_file}", "--cache-dir", str(shared))
    assert code == 2
    assert report["cache"]["status"] == "FAILED"
    assert "writable by group or others" in report["cache"]["detail"]


def test_cache_directory_that_cannot_exist(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, report, _ = doctor(org, env, f"file:{key_file}", "--cache-dir", str(blocker / "cache"))
    assert code == 2
    assert "cannot be created" in report["cache"]["detail"]


def test_broken_configuration_stops_early(env: dict[str, str]) -> None:
    run = run_cli(["doctor", "--json"], env)
    assert run.code == 2
    (check,) = json.loads(run.stdout)["checks"]
    assert check["name"] == "configuration" and check["status"] == "FAILED"
    assert "--client-id is required" in check["detail"]


def test_missing_key(org: SalesforceEmulator, env: dict[str, str]) -> None:
    code, report, _ = doctor(org, env, "file:/nonexistent/key.pem")
    assert code == 3
    assert report["key"]["status"] == "FAILED"
    assert report["token exchange"]["status"] == "FAILED"


def test_external_client_app_with_a_legacy_audience(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, app_key: rsa.RSAPrivateKey
) -> None:
    org.register_app(CLIENT_ID, pem_public(app_key), external_client_app=True)
    code, report, text = doctor(
        org, env, f"file:{key_file}", "--audience", "https://login.salesforce.com"
    )
    assert code == 4
    exchange = report["token exchange"]
    assert exchange["status"] == "FAILED"
    assert "app_not_found" in exchange["detail"]
    assert "The audience sent was 'https://login.salesforce.com'" in exchange["fix"]
    assert "My Domain URL for both the audience and the token host" in exchange["fix"]
    assert "connected app or External Client App" in report["certificate"]["fix"]  # skipped
    assert "fix: The audience sent was" in text
