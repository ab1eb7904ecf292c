"""The ``KeySource`` port: one adapter per ``--key`` scheme, chosen once, loading on every call.

The adapters meet real parts: files on disk, moto's KMS, Secrets Manager and SSM (through a client
factory passed in at the port's own seam, as ``AwsClients`` is in production).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
import pytest
from conftest import Aws
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import REGION, pem_private

from sf_credproc.config.key_uri import SCHEMES, KeyUri, parse_key_uri
from sf_credproc.errors import ExitStatus, InternalError, KeySourceError
from sf_credproc.keys.file_source import FileKeySource
from sf_credproc.keys.kms_key import KmsRsaPrivateKey
from sf_credproc.keys.registry import KeySourceRegistry
from sf_credproc.keys.source import KeySource, KeySourceContext
from sf_credproc.oauth.assertion import build_claims, sign_assertion


class MotoClients:
    """The port's AWS seam, served by moto; counts the clients it makes."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws
        self.made: list[str] = []

    def client(self, service: str, *, region: str | None = None) -> Any:
        self.made.append(service)
        return self.aws.client(service, region_name=region or REGION)


class NoAws:
    """For sources that must not touch AWS at all."""

    def client(self, service: str, *, region: str | None = None) -> Any:
        raise AssertionError(f"a {service} client was made")


def context(
    aws: Any = None, environ: Mapping[str, str] | None = None, passphrase: str | None = None
) -> KeySourceContext:
    return KeySourceContext(aws=aws or NoAws(), environ=environ or {}, passphrase=passphrase)


def public_numbers(key: rsa.RSAPrivateKey) -> rsa.RSAPublicNumbers:
    return key.public_key().public_numbers()


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_every_scheme_the_parser_accepts_has_a_key_source() -> None:
    assert sorted(KeySourceRegistry().schemes) == sorted(SCHEMES)


def test_the_source_is_chosen_once_and_reads_the_key_on_every_load(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    first, second = new_key(), new_key()
    path.write_bytes(pem_private(first))
    source = KeySourceRegistry().source_for(parse_key_uri(f"file:{path}", "test"), context())
    assert isinstance(source, FileKeySource)
    assert public_numbers(source.load_key()) == public_numbers(first)
    path.write_bytes(pem_private(second))  # a rotated key is read by the next attempt
    assert public_numbers(source.load_key()) == public_numbers(second)


def test_a_new_scheme_is_one_registration(tmp_path: Path) -> None:
    """A backend the next release adds (Vault Transit here) plugs in without touching the others."""
    key = new_key()
    opened: list[KeyUri] = []

    class VaultTransitKeySource:
        def __init__(self, uri: KeyUri) -> None:
            self.uri = uri

        def load_key(self) -> rsa.RSAPrivateKey:
            return key

    def vault_source(uri: KeyUri, context: KeySourceContext) -> KeySource:
        opened.append(uri)
        return VaultTransitKeySource(uri)

    registry = KeySourceRegistry()
    registry.register("vault-transit", vault_source)
    uri = KeyUri("vault-transit", "transit/keys/salesforce")
    source = registry.source_for(uri, context())
    assert opened == [uri]
    assert public_numbers(source.load_key()) == public_numbers(key)
    assert "vault-transit" not in KeySourceRegistry().schemes  # no global state changed
    file_key = tmp_path / "k.pem"
    file_key.write_bytes(pem_private(key))
    builtin = registry.source_for(KeyUri("file", str(file_key)), context())
    assert isinstance(builtin, FileKeySource)


def test_a_scheme_has_one_key_source() -> None:
    registry = KeySourceRegistry()
    with pytest.raises(ValueError, match="already registered for file:"):
        registry.register("file", FileKeySource.from_uri)


def test_a_scheme_without_a_key_source_is_a_bug_not_a_usage_error() -> None:
    with pytest.raises(InternalError, match="no key source is registered for vault:") as raised:
        KeySourceRegistry({}).source_for(KeyUri("vault", "kv/sf"), context())
    assert raised.value.exit_status == ExitStatus.INTERNAL


def test_reprs_never_show_the_passphrase_or_the_environment(tmp_path: Path) -> None:
    pem = pem_private(new_key()).decode()
    held = context(environ={"SF_KEY": pem}, passphrase="correct horse battery")
    for value in (held, KeySourceRegistry().source_for(KeyUri("env", "SF_KEY"), held)):
        assert "correct horse" not in repr(value)
        assert "PRIVATE KEY" not in repr(value)
    file_source = KeySourceRegistry().source_for(KeyUri("file", str(tmp_path / "k.pem")), held)
    assert "correct horse" not in repr(file_source)


def test_kms_source_fetches_nothing_and_makes_a_client_per_call(aws: Aws) -> None:
    kms = aws.client("kms")
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    clients = MotoClients(aws)
    key = (
        KeySourceRegistry()
        .source_for(parse_key_uri(f"kms:{key_id}", "test"), context(clients))
        .load_key()
    )
    assert isinstance(key, KmsRsaPrivateKey)
    assert clients.made == []  # runtime needs kms:Sign only: no DescribeKey, no GetPublicKey
    claims = build_claims(client_id="c", username="u", audience="https://a.example", now=1.8e9)
    first, second = sign_assertion(key, claims), sign_assertion(key, claims)
    assert clients.made == ["kms", "kms"]  # fresh timeouts for every call
    public = key.public_key()
    for token in (first, second):
        decoded = jwt.decode(
            token, public, algorithms=["RS256"], audience="https://a.example", leeway=1e10
        )
        assert decoded["sub"] == "u"


def test_aws_sources_read_through_the_port(aws: Aws) -> None:
    """The AWS adapters read the secret and the parameter through the clients they are given."""
    key = new_key()
    pem = pem_private(key).decode()
    aws.client("secretsmanager").create_secret(Name="sf/jwt", SecretString=json.dumps({"pem": pem}))
    aws.client("ssm").put_parameter(Name="/sf/jwt", Value=pem, Type="SecureString")
    clients = MotoClients(aws)
    for text in ("secretsmanager:sf/jwt#pem", "ssm:/sf/jwt"):
        uri = parse_key_uri(text, "test")
        loaded = KeySourceRegistry().source_for(uri, context(clients)).load_key()
        assert public_numbers(loaded) == public_numbers(key)
    assert clients.made == ["secretsmanager", "ssm"]


def test_a_plain_string_parameter_is_refused(aws: Aws) -> None:
    aws.client("ssm").put_parameter(Name="/sf/plain", Value="x", Type="String")
    source = KeySourceRegistry().source_for(
        parse_key_uri("ssm:/sf/plain", "test"), context(MotoClients(aws))
    )
    with pytest.raises(KeySourceError, match="String parameter, not a SecureString"):
        source.load_key()


def test_a_key_uri_repr_hides_key_material_pasted_as_a_path() -> None:
    pasted = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
    uri = parse_key_uri(f"file:{pasted}", "SF_CREDPROC_KEY")
    assert "MIIEvQ" not in repr(uri) and "MIIEvQ" not in repr(FileKeySource(uri))
    assert repr(parse_key_uri("secretsmanager:sf/jwt#pem", "t")) == (
        "KeyUri('secretsmanager:sf/jwt#pem')"
    )
