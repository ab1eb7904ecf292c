"""The shipped IAM documents: well-formed, lint-clean, minimal, and sufficient under enforcement."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Aws
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import CLIENT_ID, get_args, pem_private, run_cli
from moto_adapters import resource_arns_for_iam

from sf_credproc.emulator import SalesforceEmulator

IAM = Path(__file__).resolve().parents[1] / "iam"
ROLE_POLICIES = [
    "runtime-kms-signer.json",
    "setup-cert-operator.json",
    "secretsmanager-reader.json",
    "ssm-reader.json",
    "shared-cache-table.json",
    "shared-cache-key.json",
]
EXAMPLE_KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EXAMPLE_SECRET_ARN = (
    "arn:aws:secretsmanager:eu-west-1:111122223333:secret:salesforce/jwt-key-AbCdEf"
)


def document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((IAM / name).read_text())
    return loaded


def test_every_document_parses() -> None:
    names = sorted(p.name for p in IAM.glob("*.json"))
    assert names == sorted([*ROLE_POLICIES, "signing-key-policy.json"])
    for name in names:
        policy = document(name)
        assert policy["Version"] == "2012-10-17"
        assert policy["Statement"]


@pytest.mark.parametrize("name", ROLE_POLICIES)
def test_parliament_finds_nothing_in_role_policies(name: str) -> None:
    from parliament import analyze_policy_string

    policy = analyze_policy_string((IAM / name).read_text(), include_community_auditors=True)
    assert [(f.issue, f.detail) for f in policy.findings] == []


def test_cloudformation_template_passes_cfn_lint() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    done = subprocess.run(
        [str(cfn_lint), str(IAM / "scheduled-job.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_runtime_signer_is_sign_only_on_one_key_with_conditions() -> None:
    (statement,) = document("runtime-kms-signer.json")["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "kms:Sign"
    assert statement["Resource"] == EXAMPLE_KEY_ARN  # a key ARN: an alias ARN would not bind
    assert ":alias/" not in statement["Resource"] and "*" not in statement["Resource"]
    assert statement["Condition"] == {
        "StringEquals": {
            "kms:SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256",
            "kms:MessageType": "RAW",
        }
    }


def test_template_grants_exactly_the_runtime_signer_statement() -> None:
    from cfnlint.decode import decode

    template, problems = decode(str(IAM / "scheduled-job.yaml"))
    assert problems == [] and template is not None
    resources = template["Resources"]
    key = resources["SigningKey"]["Properties"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("RSA_2048", "SIGN_VERIFY")
    key_denials = [s for s in key["KeyPolicy"]["Statement"] if s["Effect"] == "Deny"]
    shipped_denials = [
        s for s in document("signing-key-policy.json")["Statement"] if s["Effect"] == "Deny"
    ]
    assert json.loads(json.dumps(key_denials)) == shipped_denials
    policy = resources["JobRole"]["Properties"]["Policies"][0]
    assert policy["PolicyName"] == "runtime-kms-signer"
    (statement,) = json.loads(json.dumps(policy["PolicyDocument"]["Statement"]))
    shipped = document("runtime-kms-signer.json")["Statement"][0]
    assert statement == {**shipped, "Resource": {"Fn::GetAtt": ["SigningKey", "Arn"]}}
    assert resources["Schedule"]["Type"] == "AWS::Scheduler::Schedule"
    variables = resources["JobFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["SF_CREDPROC_KEY"] == {"Fn::Sub": "kms:${SigningKey.Arn}"}
    assert variables["SF_CREDPROC_CACHE_DIR"] == "/tmp/sf-credproc"


def test_setup_operator_adds_only_public_key_reads() -> None:
    statements = document("setup-cert-operator.json")["Statement"]
    actions = sorted(
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert actions == ["kms:DescribeKey", "kms:GetPublicKey", "kms:Sign"]
    (sign,) = [s for s in statements if s["Action"] == "kms:Sign"]
    assert sign["Condition"] == document("runtime-kms-signer.json")["Statement"][0]["Condition"]


def test_secret_reader_conditions() -> None:
    read, decrypt = document("secretsmanager-reader.json")["Statement"]
    assert read["Action"] == "secretsmanager:GetSecretValue"
    assert read["Resource"] == EXAMPLE_SECRET_ARN
    assert read["Condition"] == {"StringEquals": {"secretsmanager:VersionStage": "AWSCURRENT"}}
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }


def test_ssm_reader_conditions() -> None:
    read, decrypt = document("ssm-reader.json")["Statement"]
    assert read["Action"] == "ssm:GetParameter"
    assert read["Resource"].startswith("arn:aws:ssm:") and ":parameter/" in read["Resource"]
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": "ssm.eu-west-1.amazonaws.com"}
    }


def test_shared_cache_policies() -> None:
    (table,) = document("shared-cache-table.json")["Statement"]
    assert sorted(table["Action"]) == [
        "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
    ]  # fmt: skip
    assert table["Resource"].endswith(":table/sf-credproc-tokens")
    assert "dynamodb:LeadingKeys" in table["Condition"]["ForAllValues:StringEquals"]
    (key,) = document("shared-cache-key.json")["Statement"]
    assert sorted(key["Action"]) == ["kms:Decrypt", "kms:Encrypt"]
    assert key["Condition"]["ForAllValues:StringEquals"] == {
        "kms:EncryptionContextKeys": ["sf-credproc-cache"]
    }


def test_template_has_the_shared_cache() -> None:
    from cfnlint.decode import decode

    template, _ = decode(str(IAM / "scheduled-job.yaml"))
    assert template is not None
    table = template["Resources"]["TokenTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    cache_key = template["Resources"]["CacheKey"]["Properties"]
    assert (cache_key["KeySpec"], cache_key["KeyUsage"]) == ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    variables = template["Resources"]["JobFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["SF_CREDPROC_SHARED_CACHE"] == {"Fn::Sub": "dynamodb://${TokenTable}"}


def test_key_policy_denies_other_algorithms_and_digests() -> None:
    statements = {s["Sid"]: s for s in document("signing-key-policy.json")["Statement"]}
    algorithm = statements["DenyEveryOtherSigningAlgorithm"]
    assert algorithm["Effect"] == "Deny" and algorithm["Action"] == "kms:Sign"
    assert algorithm["Condition"] == {
        "StringNotEquals": {"kms:SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"}
    }
    digest = statements["DenyDigestMessages"]
    assert digest["Condition"] == {"StringNotEquals": {"kms:MessageType": "RAW"}}


@pytest.fixture
def enforced(aws: Aws) -> Iterator[Aws]:
    with resource_arns_for_iam():
        yield aws


def with_resource(policy: dict[str, Any], example: str, real: str) -> dict[str, Any]:
    """The shipped document with its example ARN replaced by the real one."""
    replaced: dict[str, Any] = json.loads(json.dumps(policy).replace(example, real))
    return replaced


def kms_signing_key(aws: Aws, org: SalesforceEmulator) -> str:
    kms = aws.client("kms")
    metadata = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]
    public = serialization.load_der_public_key(
        kms.get_public_key(KeyId=metadata["KeyId"])["PublicKey"]
    )
    org.register_app(
        CLIENT_ID,
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    kms.create_alias(AliasName="alias/salesforce-jwt", TargetKeyId=metadata["KeyId"])
    arn: str = metadata["Arn"]
    return arn


def test_runtime_signer_policy_is_sufficient_for_get(
    enforced: Aws, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    key_arn = kms_signing_key(enforced, org)
    enforced.run_as(
        env, policy=with_resource(document("runtime-kms-signer.json"), EXAMPLE_KEY_ARN, key_arn)
    )
    run = run_cli(get_args(org, "kms:alias/salesforce-jwt"), env)
    assert run.credential()["AccessToken"] in org.sessions


def test_runtime_signer_policy_for_another_key_is_denied(
    enforced: Aws, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    kms_signing_key(enforced, org)
    enforced.run_as(env, policy=document("runtime-kms-signer.json"))  # still names the example key
    run = run_cli(get_args(org, "kms:alias/salesforce-jwt"), env)
    run.assert_failed(3, "AWS denied kms:Sign", "Grant the caller's IAM role kms:Sign")


def test_without_the_sign_statement_get_names_the_missing_permission(
    enforced: Aws, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    key_arn = kms_signing_key(enforced, org)
    policy = with_resource(document("setup-cert-operator.json"), EXAMPLE_KEY_ARN, key_arn)
    policy["Statement"] = [s for s in policy["Statement"] if s["Action"] != "kms:Sign"]
    enforced.run_as(env, policy=policy)
    run = run_cli(get_args(org, f"kms:{key_arn}"), env)
    run.assert_failed(3, "AWS denied kms:Sign", key_arn)
    assert org.token_request_count == 0


def test_secret_reader_policy_is_sufficient_and_necessary(
    enforced: Aws, org: SalesforceEmulator, env: dict[str, str], app_key: rsa.RSAPrivateKey
) -> None:
    secret_arn = enforced.client("secretsmanager").create_secret(
        Name="salesforce/jwt-key", SecretString=pem_private(app_key).decode()
    )["ARN"]
    policy = with_resource(document("secretsmanager-reader.json"), EXAMPLE_SECRET_ARN, secret_arn)
    enforced.run_as(env, policy=policy)
    run = run_cli(get_args(org, "secretsmanager:salesforce/jwt-key"), env)
    assert run.credential()["AccessToken"] in org.sessions

    enforced.set_iam_enforcement(False)
    policy["Statement"] = policy["Statement"][1:]  # only kms:Decrypt is left
    enforced.run_as(env, policy=policy)
    run = run_cli(get_args(org, "secretsmanager:salesforce/jwt-key", "--no-cache"), env)
    run.assert_failed(3, "AWS denied secretsmanager:GetSecretValue")
