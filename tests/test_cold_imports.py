"""A cold ``get --no-cache`` imports only what its key source needs (README, "Cold start, measured").

Each test runs the installed console script as a real process under ``-X importtime`` and reads the
modules it loaded from that profile: a ``file:`` key loads no AWS library at all (nor a TOML reader
without a config file, nor the token cache with ``--no-cache``), a ``kms:`` key loads botocore but
neither boto3 nor ``s3transfer`` (which ``import boto3`` alone pulls in); neither loads another key
source's adapter, the shared tier's item or another format's helpers. The records its modules
define are named tuples, except those that hold a secret (below).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
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


#: The frozen dataclasses a cold ``get`` may define, each with why it is not a named tuple. Each
#: costs ~0.5 ms of every start on 3.11 (its generated methods are compiled from source), a named
#: tuple ~0.05 ms; but a tuple unpacks, and ``"%s" % record`` formats its fields, so a record that
#: holds a secret (or may: a value pasted by mistake) stays a dataclass, its ``repr`` guarded.
SECRET_HOLDERS = {
    "sf_credproc.config.settings.Settings": "the passphrase, the AppRole secret id, the PIN",
    "sf_credproc.cli.context.CommandContext": "the environment",
    "sf_credproc.config.sources.SettingSources": "the environment",
    "sf_credproc.config.values.RawValue": "any setting's value, a secret one included",
    "sf_credproc.config.key_uri.KeyUri": "a target that may be key material pasted by mistake",
    "sf_credproc.credential.Credential": "the access token",
    "sf_credproc.oauth.token_response.TokenResponse": "the access token",
    "sf_credproc.http_call.HttpAnswer": "a body that may hold a token",
    "sf_credproc.keys.source.KeySourceContext": "the environment and the passphrase",
}


def test_the_cold_path_keeps_dataclasses_for_records_that_hold_secrets(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    modules = imported_modules(get_args(org, key, "--no-cache"), env)
    defined = set()
    for name in sorted(module for module in modules if loaded("sf_credproc", {module})):
        module = importlib.import_module(name)
        defined |= {
            f"{name}.{cls.__name__}"
            for cls in vars(module).values()
            if inspect.isclass(cls) and cls.__module__ == name and dataclasses.is_dataclass(cls)
        }
    assert defined == set(SECRET_HOLDERS)
