"""Secret hygiene with progress on: every scenario, in both log formats, leaks nothing.

Every ``run_cli`` in the suite already checks its output (``helpers.assert_no_leaks``); here the
scenarios run again with ``-v`` in both ``--log-format``s, where the most is said.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Aws
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from faulty_emulator import CannedResponse, FaultyEmulator
from helpers import (
    CLIENT_ID,
    SECRETS,
    USERNAME,
    Run,
    assert_no_leaks,
    get_args,
    pem_private,
    run_cli,
    throwaway_key,
)

Scenario = Callable[[FaultyEmulator, Aws, dict[str, str], Path, rsa.RSAPrivateKey], list[str]]


def file_key(
    org: FaultyEmulator, aws: Aws, env: dict[str, str], tmp: Path, key: rsa.RSAPrivateKey
) -> list[str]:
    path = tmp / "k.pem"
    path.write_bytes(pem_private(key))
    return get_args(org, f"file:{path}")


def encrypted_file_key(
    org: FaultyEmulator, aws: Aws, env: dict[str, str], tmp: Path, key: rsa.RSAPrivateKey
) -> list[str]:
    path = tmp / "k.pem"
    path.write_bytes(pem_private(key, b"leak-test-passphrase"))
    env["SF_CREDPROC_KEY_PASSPHRASE"] = "leak-test-passphrase"
    return get_args(org, f"file:{path}")


def wrong_passphrase(
    org: FaultyEmulator, aws: Aws, env: dict[str, str], tmp: Path, key: rsa.RSAPrivateKey
) -> list[str]:
    path = tmp / "k.pem"
    path.write_bytes(pem_private(key, b"the-right-passphrase"))
    env["SF_CREDPROC_KEY_PASSPHRASE"] = "a-wrong-passphrase"
    SECRETS.add("a-wrong-passphrase")
    return get_args(org, f"file:{path}")


def secret_with_passphrase(
    org: FaultyEmulator, aws: Aws, env: dict[str, str], tmp: Path, key: rsa.RSAPrivateKey
) -> list[str]:
    value = {
        "private_key": pem_private(key, b"secret-json-passphrase").decode(),
        "passphrase": "secret-json-passphrase",
    }
    aws.client("secretsmanager").create_secret(Name="sf/leak", SecretString=json.dumps(value))
    return get_args(org, "secretsmanager:sf/leak")


def env_key(
    org: FaultyEmulator, aws: Aws, env: dict[str, str], tmp: Path, key: rsa.RSAPrivateKey
) -> list[str]:
    env["LEAK_TEST_KEY"] = pem_private(key).decode()
    return get_args(org, "env:LEAK_TEST_KEY")


def kms_key(
    org: FaultyEmulator, aws: Aws, env: dict[str, str], tmp: Path, key: rsa.RSAPrivateKey
) -> list[str]:
    kms = aws.client("kms")
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    org.register_app(
        CLIENT_ID,
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return get_args(org, f"kms:{key_id}")


def unapproved_user(
    org: FaultyEmulator, aws: Aws, env: dict[str, str], tmp: Path, key: rsa.RSAPrivateKey
) -> list[str]:
    org.users[USERNAME].approved_apps.clear()
    return file_key(org, aws, env, tmp, key)


def mismatched_key(
    org: FaultyEmulator, aws: Aws, env: dict[str, str], tmp: Path, key: rsa.RSAPrivateKey
) -> list[str]:
    return file_key(org, aws, env, tmp, throwaway_key())


def outage(
    org: FaultyEmulator, aws: Aws, env: dict[str, str], tmp: Path, key: rsa.RSAPrivateKey
) -> list[str]:
    org.canned_responses.extend([CannedResponse(503, b"<html>down</html>")] * 2)
    return file_key(org, aws, env, tmp, key)


SCENARIOS: list[Scenario] = [
    file_key, encrypted_file_key, wrong_passphrase, secret_with_passphrase, env_key, kms_key,
    unapproved_user, mismatched_key, outage,
]  # fmt: skip


@pytest.mark.parametrize("log_format", ["json", "text"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_nothing_secret_is_said(
    scenario: Scenario,
    log_format: str,
    org: FaultyEmulator,
    aws: Aws,
    env: dict[str, str],
    tmp_path: Path,
    app_key: rsa.RSAPrivateKey,
) -> None:
    args = scenario(org, aws, env, tmp_path, app_key)
    verbose = ["-v", "--log-format", log_format]
    runs = [run_cli([*args, *verbose], env)]  # a login (or a failure)
    runs.append(run_cli([*args, *verbose], env))  # a cache hit, or the failure again
    runs.append(run_cli([*args, *verbose, "--format", "env"], env))
    runs.append(run_cli(["doctor", *args[1:], *verbose], env))
    runs.append(run_cli(["exec", *args[1:], *verbose, "--", "true"], env))
    runs.append(run_cli(["cache", "list"], env))
    runs.append(run_cli(["logout", *args[1:]], env))
    for run in runs:
        assert_no_leaks(run)  # (run_cli did too; kept explicit here)
        for line in run.stderr.splitlines():
            assert "Traceback" not in line
            if log_format == "json" and line.startswith("{"):
                json.loads(line)
    assert runs[0].stderr  # -v said something
    if runs[0].code == 0:
        assert any(token in runs[0].stdout for token in org.sessions)
    cache = Path(env["XDG_CACHE_HOME"]) / "sf-credproc"
    names = " ".join(p.name for p in cache.iterdir()) if cache.exists() else ""
    for token in org.sessions:
        assert token[:15] not in names and token.split("!")[1][:12] not in names
    assert USERNAME not in names


def test_the_leak_check_itself_catches_leaks(
    org: FaultyEmulator, env: dict[str, str], key_file: Path
) -> None:
    """The checker is only worth something if it fails on a leak."""
    token = run_cli(get_args(org, f"file:{key_file}"), env).credential()["AccessToken"]
    assertion = org.token_requests[0].assertion
    for leaked in (
        Run(1, "", f"sf-credproc: oops {token}\n"),
        Run(0, assertion, ""),
        Run(1, "", next(iter(SECRETS))),
    ):
        with pytest.raises(AssertionError):
            assert_no_leaks(leaked)
