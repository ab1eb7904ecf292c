"""Signer plugins (``NAME:REST`` runs ``sf-credproc-signer-NAME``): the sample plugin end to end
(``cert``, ``get``, ``doctor``), the protocol's requests, and where a plugin may be found."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import Aws
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from helpers import CLIENT_ID, get_args, pem_private, run_cli, throwaway_key
from plugin_fixtures import SAMPLE, PluginBin, plugin_bin, private_directory
from test_cert import assert_self_signed_by
from test_key_sources_e2e import assert_logged_in

from sf_credproc.emulator import SalesforceEmulator

needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="the sample plugin signs with the openssl command"
)


@pytest.fixture
def plugins(env: dict[str, str], tmp_path: Path, key_file: Path) -> PluginBin:
    return plugin_bin(env, tmp_path, key_file)


def write_key(path: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """``key`` as an unencrypted PEM at ``path``; its ``openssl:`` key URI."""
    if isinstance(key, rsa.RSAPrivateKey):
        path.write_bytes(pem_private(key))  # registers its lines as secrets
    else:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    path.chmod(0o600)
    return f"openssl:{path}"


@needs_openssl
def test_sample_plugin_makes_the_certificate_that_logs_in(
    plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    plugins.install("openssl", SAMPLE)
    key = throwaway_key(3072)
    uri = write_key(tmp_path / "signer.pem", key)
    run = run_cli(["cert", "--key", uri, "--subject", "CN=plugin"], env)
    assert run.code == 0, run.stderr
    certificate = x509.load_pem_x509_certificate(run.stdout.encode())
    assert_self_signed_by(certificate, key.public_key())

    org.register_app(CLIENT_ID, run.stdout.encode())
    login = run_cli(get_args(org, uri, "--no-cache"), env)
    assert_logged_in(org, login.credential())
    assert login.stderr == ""


@needs_openssl
def test_sample_plugin_passes_doctor(
    plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    plugins.install("openssl", SAMPLE)
    uri = write_key(tmp_path / "signer.pem", throwaway_key())
    cert = tmp_path / "app.pem"
    assert run_cli(["cert", "--key", uri, "--out", str(cert)], env).code == 0
    org.register_app(CLIENT_ID, cert.read_bytes())
    run = run_cli(["doctor", *get_args(org, uri)[1:], "--cert", str(cert), "--json"], env)
    assert run.code == 0, run.stdout + run.stderr
    checks = {check["name"]: check for check in json.loads(run.stdout)["checks"]}
    assert {check["status"] for check in checks.values()} == {"ok"}
    plugin = plugins.directory / "sf-credproc-signer-openssl"
    assert f"signed by the plugin {plugin}" in checks["key"]["detail"]
    assert "verifies the key's signature" in checks["public key"]["detail"]
    assert "matches the key" in checks["certificate"]["detail"]


@needs_openssl
def test_sample_plugin_refuses_an_ec_key(
    plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    """openssl signs with whatever key it is given: the ECDSA signature is too short for RS256."""
    plugins.install("openssl", SAMPLE)
    uri = write_key(tmp_path / "ec.pem", ec.generate_private_key(ec.SECP256R1()))
    run = run_cli(get_args(org, uri, "--no-cache"), env)
    run.assert_failed(3, uri, "not an RSA signature of 2048 bits or more", "RSA key")
    assert org.token_requests == []


@needs_openssl
def test_sample_plugin_reports_a_missing_key_file(
    plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    plugins.install("openssl", SAMPLE)
    missing = tmp_path / "nowhere.pem"
    run_cli(get_args(org, f"openssl:{missing}"), env).assert_failed(
        3, "sf-credproc-signer-openssl", f"failed: no key file at {missing}"
    )


def test_requests_follow_the_protocol(
    plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    """A sign request carries the JWT's signing input; cert also asks for the public key. The key
    URI goes on stdin, whole, never on the command line."""
    plugins.install("acme-hsm")
    run_cli(get_args(org, "acme-hsm:good", "--no-cache"), env).credential()
    (sign,) = plugins.requests()
    (request,) = org.token_requests
    assert request.assertion is not None
    signing_input = request.assertion.rsplit(".", 1)[0].encode()
    assert sign == {
        "version": 1,
        "operation": "sign",
        "key": "acme-hsm:good",
        "algorithm": "RS256",
        "message": base64.b64encode(signing_input).decode(),
    }
    assert plugins.read_json("argv.json")[1:] == []

    assert run_cli(["cert", "--key", "acme-hsm:good"], env).code == 0
    operations = [r["operation"] for r in plugins.requests()[1:]]
    assert operations[0] == "public-key"
    assert set(operations[1:]) == {"sign"}
    assert plugins.requests()[1] == {
        "version": 1,
        "operation": "public-key",
        "key": "acme-hsm:good",
    }


@pytest.mark.parametrize("scheme", ["file", "kms"])
def test_built_in_schemes_win(
    scheme: str,
    plugins: PluginBin,
    org: SalesforceEmulator,
    aws: Aws,
    env: dict[str, str],
    key_file: Path,
) -> None:
    plugins.install(scheme)
    if scheme == "file":
        run_cli(get_args(org, f"file:{key_file}"), env).credential()
    else:
        run = run_cli(get_args(org, "kms:alias/no-such-key"), env)
        run.assert_failed(3, "kms:alias/no-such-key")
    assert not plugins.ran()


@pytest.mark.parametrize("scheme", ["gcpkms", "azurekv"])
def test_cloud_schemes_never_run_a_plugin(
    scheme: str, plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    """Built in or reserved, a cloud signer's scheme is never a plugin's: a bad key is exit 2."""
    plugins.install(scheme)
    run = run_cli(get_args(org, f"{scheme}:good"), env)
    run.assert_failed(2, f"'{scheme}:good'")
    assert not plugins.ran()


def test_unknown_scheme_without_a_plugin(org: SalesforceEmulator, env: dict[str, str]) -> None:
    run = run_cli(get_args(org, "nosuch:some-key"), env)
    run.assert_failed(
        2, "no signer plugin for nosuch: keys", "sf-credproc-signer-nosuch", "absolute path in PATH"
    )


@pytest.mark.parametrize("entry", ["", ".", "relative/bin"])
def test_relative_path_entries_are_skipped(
    entry: str,
    plugins: PluginBin,
    org: SalesforceEmulator,
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plugin reachable only through the current directory is never run."""
    monkeypatch.chdir(tmp_path)
    plugins.install("acme", directory=private_directory(tmp_path / (entry or ".")))
    env["PATH"] = f"{entry}{os.pathsep}{env['PATH']}"
    run_cli(get_args(org, "acme:good"), env).assert_failed(2, "no signer plugin for acme:")
    assert not plugins.ran()


def test_first_absolute_entry_wins(
    plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    later = private_directory(tmp_path / "later")
    plugins.install("acme", directory=later, mode=0o644)  # would be refused, were it reached
    env["PATH"] = f"{env['PATH']}{os.pathsep}{later}"
    plugins.install("acme")
    run_cli(get_args(org, "acme:good"), env).credential()
    assert plugins.ran()


@pytest.mark.parametrize(
    ("what", "needle"),
    [
        ("group-writable plugin", "is writable by group or others"),
        ("world-writable plugin", "is writable by group or others"),
        ("group-writable directory", "of the signer plugin"),
        ("world-writable directory", "of the signer plugin"),
        ("link to a plugin in a group-writable directory", "of the signer plugin"),
    ],
)
def test_a_plugin_others_could_replace_is_refused(
    what: str,
    needle: str,
    plugins: PluginBin,
    org: SalesforceEmulator,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    path = plugins.install("acme")
    if what.endswith("plugin"):
        path.chmod(0o775 if what.startswith("group") else 0o757)
    elif what.startswith("link"):
        unsafe = private_directory(tmp_path / "unsafe")
        unsafe.chmod(0o775)
        path.unlink()
        path.symlink_to(plugins.install("acme", directory=unsafe))
    else:
        plugins.directory.chmod(0o775 if what.startswith("group") else 0o777)
    run = run_cli(get_args(org, "acme:good"), env)
    run.assert_failed(2, needle, "writable by group or others", "chmod go-w")
    assert not plugins.ran()


def test_a_plugin_that_is_not_executable(
    plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    path = plugins.install("acme", mode=0o644)
    run_cli(get_args(org, "acme:good"), env).assert_failed(
        2, f"the signer plugin {path} is not executable", "chmod 755"
    )
    assert not plugins.ran()


def test_a_plugin_that_is_a_directory(
    plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    private_directory(plugins.directory / "sf-credproc-signer-acme")
    run_cli(get_args(org, "acme:good"), env).assert_failed(2, "is a directory, not a regular file")


def test_a_plugin_that_cannot_be_started(
    plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    """Executable, but neither a program nor a script with a #! line (exec fails: ENOEXEC)."""
    path = plugins.directory / "sf-credproc-signer-acme"
    path.write_bytes(b"\x00\x01 not a program")
    path.chmod(0o755)
    run_cli(get_args(org, "acme:good"), env).assert_failed(
        2, f"{path} (acme:good) cannot be run", "#! line"
    )
