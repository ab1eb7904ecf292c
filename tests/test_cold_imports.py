"""A cold ``get --no-cache`` imports only what its key source needs (README, "Cold start, measured").

Each test runs the installed console script as a real process under ``-X importtime`` and reads the
modules it loaded from that profile: a ``file:`` key loads no AWS library at all (nor a TOML reader
without a config file, nor the token cache with ``--no-cache``), a ``kms:`` key loads botocore but
neither boto3 nor ``s3transfer`` (which ``import boto3`` alone pulls in); neither loads another key
source's adapter, the shared tier's item or another format's helpers.
"""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import Aws
from cryptography.hazmat.primitives import serialization
from faulty_emulator import FaultyEmulator
from helpers import EXE, USERNAME, get_args


def imported_modules(args: list[str], env: dict[str, str]) -> set[str]:
    """The modules one ``sf-credproc`` process imported, after checking that it succeeded."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(EXE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["Username"] == USERNAME
    return {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}


def loaded(package: str, modules: set[str]) -> bool:
    return any(name == package or name.startswith(package + ".") for name in modules)


def test_a_file_key_loads_no_aws_library(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    assert key.startswith("file:")
    modules = imported_modules(get_args(org, key, "--no-cache"), env)
    assert "sf_credproc.login" in modules  # it did log in, through the full command
    for package in ("boto3", "botocore", "s3transfer"):
        assert not loaded(package, modules), package
    assert "sf_credproc.keys.kms_source" not in modules
    # No config file, no TOML reader; --no-cache, no token cache (the login breaker's record only).
    assert "tomllib" not in modules and "tomli" not in modules
    assert "sf_credproc.cache.files" not in modules
    # Nor what only another key source, the shared tier or another format uses.
    for module in (
        "sf_credproc.keys.env_source",
        "sf_credproc.cache.shared_item",
        "sf_credproc.cumulusci",
        "shlex",
    ):
        assert module not in modules, module
    assert org.token_request_count == 1


def test_a_kms_key_loads_botocore_without_boto3_or_s3transfer(
    aws: Aws, org: FaultyEmulator, env: dict[str, str]
) -> None:
    kms = aws.client("kms")
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    org.register_app(
        next(iter(org.apps)),
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    modules = imported_modules(get_args(org, f"kms:{key_id}", "--no-cache"), env)
    assert loaded("botocore", modules)  # the signature came from KMS
    for package in ("boto3", "s3transfer"):
        assert not loaded(package, modules), package
    assert org.token_request_count == 1
