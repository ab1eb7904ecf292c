"""AWS failures name the key source and the fix; access denied arrives in both of AWS's shapes."""

from __future__ import annotations

from typing import Any

import pytest
from aws_fault_proxy import AwsFaultProxy
from conftest import Aws
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import get_args, pem_private, run_cli

from sf_credproc.emulator import SalesforceEmulator


def signing_key(aws: Aws, **kwargs: Any) -> str:
    key_id: str = aws.client("kms").create_key(**kwargs)["KeyMetadata"]["KeyId"]
    return key_id


def test_kms_key_not_found(aws: Aws, org: SalesforceEmulator, env: dict[str, str]) -> None:
    run = run_cli(get_args(org, "kms:alias/does-not-exist"), env)
    run.assert_failed(3, "kms:alias/does-not-exist", "NotFoundException", "--region")
    assert org.token_requests == []


def test_kms_access_denied_http_403(aws: Aws, org: SalesforceEmulator, env: dict[str, str]) -> None:
    key_id = signing_key(aws, KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")
    aws.run_as(env, actions=["kms:DescribeKey", "kms:GetPublicKey"])
    run = run_cli(get_args(org, f"kms:{key_id}"), env)
    aws.set_iam_enforcement(False)
    run.assert_failed(3, "AWS denied kms:Sign", key_id, "Grant the caller's IAM role kms:Sign")


def test_kms_access_denied_http_400(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], aws_through_fault_proxy: AwsFaultProxy
) -> None:
    """Real KMS says no with HTTP 400 AccessDeniedException."""
    key_id = signing_key(aws, KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")
    aws_through_fault_proxy.fail(
        "TrentService.Sign", "AccessDeniedException", message="not authorized"
    )
    run = run_cli(get_args(org, f"kms:{key_id}"), env)
    run.assert_failed(3, "AWS denied kms:Sign", "AccessDeniedException")


def test_kms_disabled_key(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], aws_through_fault_proxy: AwsFaultProxy
) -> None:
    key_id = signing_key(aws, KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")
    aws_through_fault_proxy.fail("TrentService.Sign", "DisabledException")
    run = run_cli(get_args(org, f"kms:{key_id}"), env)
    run.assert_failed(3, "disabled", "enable-key")


def test_kms_pending_deletion(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], aws_through_fault_proxy: AwsFaultProxy
) -> None:
    key_id = signing_key(aws, KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")
    aws_through_fault_proxy.fail("TrentService.Sign", "KMSInvalidStateException")
    run = run_cli(get_args(org, f"kms:{key_id}"), env)
    run.assert_failed(3, "pending deletion", "cancel-key-deletion")


def test_kms_throttling_is_transient(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], aws_through_fault_proxy: AwsFaultProxy
) -> None:
    key_id = signing_key(aws, KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")
    aws_through_fault_proxy.fail(
        "TrentService.Sign", "ThrottlingException", message="Rate exceeded"
    )
    run = run_cli(get_args(org, f"kms:{key_id}"), env)
    run.assert_failed(5, "ThrottlingException", "Retry later")
    # sf-credproc's own retries (4 attempts at most), none inside botocore.
    assert aws_through_fault_proxy.seen.count("TrentService.Sign") == 4


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"KeyUsage": "SIGN_VERIFY", "KeySpec": "ECC_NIST_P256"}, "not an RSA signing key"),
        ({"KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT"}, "not an RSA signing key"),
    ],
    ids=["ECC key", "encryption key"],
)
def test_kms_wrong_key_spec_or_usage(
    kwargs: dict[str, str], needle: str, aws: Aws, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    key_id = signing_key(aws, **kwargs)
    run = run_cli(get_args(org, f"kms:{key_id}"), env)
    run.assert_failed(3, needle, "RSA_2048", "SIGN_VERIFY")


def test_secret_not_found(aws: Aws, org: SalesforceEmulator, env: dict[str, str]) -> None:
    run = run_cli(get_args(org, "secretsmanager:sf/missing"), env)
    run.assert_failed(3, "secretsmanager:sf/missing", "no such secret", "ResourceNotFoundException")


def test_secret_access_denied(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey
) -> None:
    aws.client("secretsmanager").create_secret(
        Name="sf/jwt", SecretString=pem_private(app_key).decode()
    )
    aws.run_as(env, actions=["secretsmanager:DescribeSecret"])
    run = run_cli(get_args(org, "secretsmanager:sf/jwt"), env)
    aws.set_iam_enforcement(False)
    run.assert_failed(3, "AWS denied secretsmanager:GetSecretValue", "kms:Decrypt")


def test_secret_scheduled_for_deletion(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey
) -> None:
    client = aws.client("secretsmanager")
    client.create_secret(Name="sf/jwt", SecretString=pem_private(app_key).decode())
    client.delete_secret(SecretId="sf/jwt")
    run = run_cli(get_args(org, "secretsmanager:sf/jwt"), env)
    run.assert_failed(3, "scheduled for deletion", "restore-secret")


def test_secret_decryption_failure(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], aws_through_fault_proxy: AwsFaultProxy
) -> None:
    aws_through_fault_proxy.fail("secretsmanager.GetSecretValue", "DecryptionFailure")
    run = run_cli(get_args(org, "secretsmanager:sf/jwt"), env)
    run.assert_failed(3, "could not decrypt", "kms:Decrypt")


def test_parameter_not_found(aws: Aws, org: SalesforceEmulator, env: dict[str, str]) -> None:
    run = run_cli(get_args(org, "ssm:/sf/missing"), env)
    run.assert_failed(3, "ssm:/sf/missing", "no such SSM parameter")


def test_parameter_access_denied(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey
) -> None:
    aws.client("ssm").put_parameter(
        Name="/sf/jwt", Value=pem_private(app_key).decode(), Type="SecureString"
    )
    aws.run_as(env, actions=["ssm:DescribeParameters"])
    run = run_cli(get_args(org, "ssm:/sf/jwt"), env)
    aws.set_iam_enforcement(False)
    run.assert_failed(3, "AWS denied ssm:GetParameter")


def test_plain_string_parameter_is_refused(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey
) -> None:
    aws.client("ssm").put_parameter(
        Name="/sf/jwt", Value=pem_private(app_key).decode(), Type="String"
    )
    run = run_cli(get_args(org, "ssm:/sf/jwt"), env)
    run.assert_failed(3, "not a SecureString")
    assert org.token_requests == []


def test_no_aws_credentials(aws: Aws, org: SalesforceEmulator, env: dict[str, str]) -> None:
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    run = run_cli(get_args(org, "kms:alias/salesforce-jwt"), env)
    run.assert_failed(3, "no AWS credentials", "IAM role")


def test_no_aws_region(aws: Aws, org: SalesforceEmulator, env: dict[str, str]) -> None:
    del env["AWS_REGION"]
    run = run_cli(get_args(org, "kms:alias/salesforce-jwt"), env)
    run.assert_failed(2, "no AWS region", "--region")


def test_unknown_aws_profile(aws: Aws, org: SalesforceEmulator, env: dict[str, str]) -> None:
    run = run_cli(get_args(org, "kms:alias/salesforce-jwt", "--aws-profile", "nope"), env)
    run.assert_failed(2, "AWS profile 'nope'", "--aws-profile")


def test_aws_unreachable_is_transient(org: SalesforceEmulator, env: dict[str, str]) -> None:
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # the discard port: nothing listens
    run = run_cli(get_args(org, "secretsmanager:sf/jwt"), env)
    run.assert_failed(5, "could not connect to AWS", "secretsmanager:sf/jwt")
