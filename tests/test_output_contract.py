"""The credential on stdout: the shipped JSON Schema, the expiration arithmetic, quiet success."""

from __future__ import annotations

import calendar
import json
import time
from pathlib import Path

import jsonschema
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import get_args, pem_private, run_cli

from sf_credproc.credential import load_schema
from sf_credproc.emulator import SalesforceEmulator


def epoch(rfc3339: str) -> int:
    return calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ"))


def test_credential_matches_the_shipped_schema(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    before = int(time.time())
    run = run_cli(get_args(org, f"file:{key_file}"), env)
    after = int(time.time())
    credential = run.credential()
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(credential, schema)
    assert list(credential) == list(schema["properties"])  # the documented field order
    assert credential["Version"] == 1
    assert credential["TokenType"] == "Bearer"
    assert credential["InstanceUrl"] == org.url
    assert (
        credential["Id"] == f"{org.url}/id/{org.org_id}/{org.users[credential['Username']].user_id}"
    )
    assert credential["Scope"] == "api"
    assert before <= epoch(credential["IssuedAt"]) <= after
    assert epoch(credential["Expiration"]) - epoch(credential["IssuedAt"]) == 7200
    assert run.stdout.count("\n") == 1 and run.stdout.endswith("}\n")
    assert run.stderr == ""  # without -v, success is silent on stderr


def test_session_ttl_sets_the_expiration(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    env["SF_CREDPROC_SESSION_TTL"] = "900"
    credential = run_cli(get_args(org, f"file:{key_file}"), env).credential()
    assert epoch(credential["Expiration"]) - epoch(credential["IssuedAt"]) == 900


def test_schema_rejects_what_the_contract_forbids() -> None:
    schema = load_schema()
    good = {
        "Version": 1, "AccessToken": "00D!x", "TokenType": "Bearer",
        "InstanceUrl": "https://acme.my.salesforce.com",
        "Id": "https://login.salesforce.com/id/00D000000000001AAA/005000000000001AAA",
        "OrgId": "00D000000000001AAA", "Username": "u@acme.example", "Scope": "api",
        "IssuedAt": "2026-11-29T08:00:00Z", "Expiration": "2026-11-29T10:00:00Z",
    }  # fmt: skip
    jsonschema.validate(good, schema)
    for broken in (
        {**good, "Version": 2},
        {**good, "Expiration": "2026-11-29T10:00:00+00:00"},
        {**good, "Extra": 1},
        {k: v for k, v in good.items() if k != "AccessToken"},
    ):
        assert not jsonschema.Draft202012Validator(schema).is_valid(broken)


def test_verbose_shows_steps_but_no_secret(
    org: SalesforceEmulator,
    env: dict[str, str],
    tmp_path: Path,
    app_key: rsa.RSAPrivateKey,
) -> None:
    path = tmp_path / "encrypted.pem"
    path.write_bytes(pem_private(app_key, b"passphrase-7f3a"))
    env["SF_CREDPROC_KEY_PASSPHRASE"] = "passphrase-7f3a"
    run = run_cli(get_args(org, f"file:{path}", "-v"), env)
    credential = run.credential()
    assert "POST " + org.url + "/services/oauth2/token" in run.stderr
    assert "signed assertion" in run.stderr and "token sha256:" in run.stderr
    (request,) = org.token_requests
    secrets = [
        credential["AccessToken"],
        credential["AccessToken"].split("!")[1],
        request.assertion,
        request.assertion.split(".")[2],  # the signature alone
        "passphrase-7f3a",
        pem_private(app_key).decode().splitlines()[1],
    ]
    for secret in secrets:
        assert secret not in run.stderr
    assert json.loads(run.stdout) == credential
