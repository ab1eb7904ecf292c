"""``sf-credproc get`` end to end for every key source: moto for AWS, the emulator for Salesforce."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from conftest import Aws
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import (
    CLIENT_ID,
    REGION,
    USERNAME,
    get_args,
    pem_private,
    run_cli,
    run_process,
    throwaway_key,
)

from sf_credproc.emulator import SalesforceEmulator


def assert_logged_in(org: SalesforceEmulator, credential: dict[str, Any]) -> None:
    """The credential is the one the emulator issued, for the right user, from a valid assertion."""
    assert credential["AccessToken"] in org.sessions
    assert credential["Username"] == USERNAME
    assert credential["OrgId"] == org.org_id
    (request,) = org.token_requests
    assert request.status == 200
    assert request.claims is not None
    assert request.claims["iss"] == CLIENT_ID
    assert request.claims["sub"] == USERNAME


def kms_key_registered(aws: Aws, org: SalesforceEmulator, spec: str = "RSA_2048") -> dict[str, Any]:
    """A KMS signing key whose public key is the connected app's certificate key."""
    kms = aws.client("kms")
    metadata: dict[str, Any] = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec=spec)["KeyMetadata"]
    public_der = kms.get_public_key(KeyId=metadata["KeyId"])["PublicKey"]
    public = serialization.load_der_public_key(public_der)
    org.register_app(
        CLIENT_ID,
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    kms.create_alias(AliasName="alias/salesforce-jwt", TargetKeyId=metadata["KeyId"])
    return metadata


@pytest.mark.parametrize(
    "form", ["key id", "alias", "key ARN", "alias ARN", "bare key ARN", "RSA_4096 key"]
)
def test_kms_key_signs_in_kms(
    form: str, aws: Aws, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    metadata = kms_key_registered(aws, org, "RSA_4096" if form == "RSA_4096 key" else "RSA_2048")
    alias_arn = metadata["Arn"].split(":key/")[0] + ":alias/salesforce-jwt"
    key = {
        "key id": f"kms:{metadata['KeyId']}",
        "alias": "kms:alias/salesforce-jwt",
        "key ARN": f"kms:{metadata['Arn']}",
        "alias ARN": f"kms:{alias_arn}",
        "bare key ARN": metadata["Arn"],
        "RSA_4096 key": "kms:alias/salesforce-jwt",
    }[form]
    run = run_cli(get_args(org, key), env)
    assert_logged_in(org, run.credential())
    assert run.stderr == ""


def test_kms_region_comes_from_the_arn(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    metadata = kms_key_registered(aws, org)
    env.pop("AWS_REGION")  # no default region at all: the ARN must supply it
    run = run_cli(get_args(org, f"kms:{metadata['Arn']}"), env)
    assert_logged_in(org, run.credential())


def test_kms_runtime_needs_only_kms_sign(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    """Under IAM enforcement, a principal allowed nothing but kms:Sign gets a token."""
    kms_key_registered(aws, org)
    # moto matches KMS actions against resource "*" only, so the policy names "*" here; the
    # action list is what this test proves minimal (no DescribeKey, no GetPublicKey).
    aws.run_as(env, actions=["kms:Sign"])
    run = run_cli(get_args(org, "kms:alias/salesforce-jwt"), env)
    aws.set_iam_enforcement(False)
    assert_logged_in(org, run.credential())


def put_secret(aws: Aws, name: str, **value: Any) -> str:
    arn: str = aws.client("secretsmanager").create_secret(Name=name, **value)["ARN"]
    return arn


def test_secret_string_pem(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey
) -> None:
    put_secret(aws, "sf/jwt-key", SecretString=pem_private(app_key).decode())
    run = run_cli(get_args(org, "secretsmanager:sf/jwt-key"), env)
    assert_logged_in(org, run.credential())


def test_secret_by_arn(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey
) -> None:
    arn = put_secret(aws, "sf/jwt-key", SecretString=pem_private(app_key).decode())
    run = run_cli(get_args(org, f"secretsmanager:{arn}"), env)
    assert_logged_in(org, run.credential())


def test_secret_json_default_field(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey
) -> None:
    document = {"private_key": pem_private(app_key).decode(), "note": "rotated yearly"}
    put_secret(aws, "sf/jwt", SecretString=json.dumps(document))
    run = run_cli(get_args(org, "secretsmanager:sf/jwt"), env)
    assert_logged_in(org, run.credential())


def test_secret_json_named_field_with_passphrase(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey
) -> None:
    document = {
        "pem": pem_private(app_key, b"correct horse").decode(),
        "passphrase": "correct horse",
    }
    put_secret(aws, "sf/jwt", SecretString=json.dumps(document))
    run = run_cli(get_args(org, "secretsmanager:sf/jwt#pem"), env)
    assert_logged_in(org, run.credential())


@pytest.mark.parametrize("encoding", ["PEM", "DER"])
def test_secret_binary(
    encoding: str,
    aws: Aws,
    org: SalesforceEmulator,
    env: dict[str, str],
    app_key: rsa.RSAPrivateKey,
) -> None:
    material = app_key.private_bytes(
        getattr(serialization.Encoding, encoding),
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    put_secret(aws, "sf/jwt-bin", SecretBinary=material)
    run = run_cli(get_args(org, "secretsmanager:sf/jwt-bin"), env)
    assert_logged_in(org, run.credential())


def test_secret_reads_awscurrent_during_rotation(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey
) -> None:
    """A pending version (a rotation under way, new key not yet uploaded) is never used."""
    put_secret(aws, "sf/jwt-key", SecretString=pem_private(app_key).decode())
    pending = throwaway_key()
    aws.client("secretsmanager").put_secret_value(
        SecretId="sf/jwt-key",
        SecretString=pem_private(pending).decode(),
        VersionStages=["AWSPENDING"],
    )
    run = run_cli(get_args(org, "secretsmanager:sf/jwt-key"), env)
    assert_logged_in(org, run.credential())


@pytest.mark.parametrize("by", ["name", "ARN"])
def test_ssm_secure_string(
    by: str, aws: Aws, org: SalesforceEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey
) -> None:
    ssm = aws.client("ssm")
    ssm.put_parameter(Name="/sf/jwt-key", Value=pem_private(app_key).decode(), Type="SecureString")
    arn = ssm.get_parameter(Name="/sf/jwt-key")["Parameter"]["ARN"]
    key = "ssm:/sf/jwt-key" if by == "name" else f"ssm:{arn}"
    run = run_cli(get_args(org, key), env)
    assert_logged_in(org, run.credential())


def test_file_key(org: SalesforceEmulator, env: dict[str, str], key_file: Path) -> None:
    run = run_cli(get_args(org, f"file:{key_file}"), env)
    assert_logged_in(org, run.credential())


def test_encrypted_file_key_with_passphrase(
    org: SalesforceEmulator, env: dict[str, str], tmp_path: Path, app_key: rsa.RSAPrivateKey
) -> None:
    path = tmp_path / "encrypted.pem"
    path.write_bytes(pem_private(app_key, b"s3cret passphrase"))
    env["SF_CREDPROC_KEY_PASSPHRASE"] = "s3cret passphrase"
    run = run_cli(get_args(org, f"file:{path}"), env)
    assert_logged_in(org, run.credential())


@pytest.mark.parametrize("layout", ["multi-line", "one line with \\n escapes"])
def test_env_key(
    layout: str, org: SalesforceEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey
) -> None:
    pem = pem_private(app_key).decode()
    env["SALESFORCE_JWT_KEY"] = pem if layout == "multi-line" else pem.replace("\n", "\\n")
    run = run_cli(get_args(org, "env:SALESFORCE_JWT_KEY"), env)
    assert_logged_in(org, run.credential())


def test_claims_received_by_salesforce(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, app_key: rsa.RSAPrivateKey
) -> None:
    """RS256 header; iss/sub/aud; integer seconds exp = iat + 180; a fresh jti every time."""
    for _ in range(2):
        run_cli(get_args(org, f"file:{key_file}", "--no-cache"), env).credential()
    first, second = org.token_requests
    for request in (first, second):
        assert request.content_type == "application/x-www-form-urlencoded"
        assert request.header == {"alg": "RS256", "typ": "JWT"}
        claims = jwt.decode(
            request.assertion, app_key.public_key(), algorithms=["RS256"], audience=org.url
        )
        assert claims == request.claims
        assert set(claims) == {"iss", "sub", "aud", "iat", "exp", "jti"}
        assert claims["aud"] == org.url  # loopback login URL: its own audience
        assert type(claims["exp"]) is int and type(claims["iat"]) is int
        assert claims["exp"] - claims["iat"] == 180
        assert claims["exp"] < 10**10  # seconds, not milliseconds
    assert first.claims and second.claims
    assert first.claims["jti"] != second.claims["jti"]


def test_python_module_entry_point(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    run = run_process(get_args(org, f"file:{key_file}"), env, module=True)
    assert_logged_in(org, run.credential())


def test_region_setting_reaches_boto3(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey
) -> None:
    """--region overrides the environment's region: the secret exists only in eu-west-1."""
    aws.client("secretsmanager", region_name="eu-west-1").create_secret(
        Name="sf/eu-key", SecretString=pem_private(app_key).decode()
    )
    assert env["AWS_REGION"] == REGION != "eu-west-1"
    run_cli(get_args(org, "secretsmanager:sf/eu-key"), env).assert_failed(3, "no such secret")
    run = run_cli(get_args(org, "secretsmanager:sf/eu-key", "--region", "eu-west-1"), env)
    assert run.credential()["AccessToken"] in org.sessions
