"""``gcpkms:`` URIs, ``SF_CREDPROC_GCPKMS_ENDPOINT`` and the ``gcp`` extra: refused before any call.

The resource-name grammar follows Google's documented id rules; the endpoint follows the login
URL's host policy (https, or plain http to loopback only; no user info, path or backslash); a
missing SDK is exit 2 with the install line. None of these reaches the stand-in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from gcpkms_standin import URI, GcpKmsStandIn, gcp_env
from helpers import get_args, run_cli, run_process

from sf_credproc.config.gcpkms_uri import gcpkms_endpoint, parse_gcpkms_name
from sf_credproc.config.key_uri import parse_key_uri
from sf_credproc.config.settings_table import render_settings_table
from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.errors import ConfigError

BASE = "projects/acme-sf/locations/us-east1/keyRings/ring_1/cryptoKeys/jwt-Key/cryptoKeyVersions/3"


@pytest.fixture
def gcpkms(app_key: rsa.RSAPrivateKey) -> Iterator[GcpKmsStandIn]:
    with GcpKmsStandIn() as standin:
        standin.add_key(app_key)
        yield standin


@pytest.fixture
def genv(env: dict[str, str], gcpkms: GcpKmsStandIn, tmp_path: Path) -> dict[str, str]:
    return gcp_env(env, gcpkms, tmp_path)


@pytest.mark.parametrize(
    "name",
    [
        BASE,
        BASE.replace("acme-sf", "123456789012"),  # a project number
        BASE.replace("acme-sf", "example.com:acme-sf"),  # a domain-scoped project
        BASE.replace("us-east1", "global"),
        BASE.replace("ring_1", "R" * 63),
    ],
)
def test_key_version_names_are_accepted(name: str) -> None:
    uri = parse_key_uri(f"gcpkms:{name}", "--key")
    assert (uri.scheme, uri.target) == ("gcpkms", name)
    assert str(parse_gcpkms_name(name)) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("projects/acme-sf", "is not a Cloud KMS key version name"),
        (BASE.rsplit("/", 2)[0], "is not a Cloud KMS key version name"),  # no version
        (BASE.replace("keyRings", "keyrings"), "where the resource name needs 'keyRings'"),
        (BASE.replace("acme-sf", "Acme-SF"), "not a project id"),
        (BASE.replace("acme-sf", "ab"), "not a project id"),
        (BASE.replace("us-east1", "US"), "not a location"),
        (BASE.replace("ring_1", "ring.1"), "not a key ring id"),
        (BASE.replace("ring_1", "R" * 64), "not a key ring id"),
        (BASE.replace("jwt-Key", "jwt%2FKey"), "not a key id"),
        (BASE.replace("jwt-Key", ".."), "not a key id"),
        (BASE.replace("Versions/3", "Versions/0"), "not a version number"),
        (BASE.replace("Versions/3", "Versions/03"), "not a version number"),
        (BASE + ":asymmetricSign", "not a version number"),
        (BASE + "/", "is not a Cloud KMS key version name"),
        (BASE + "?alt=media", "not a version number"),
    ],
)
def test_bad_names_are_exit_2_before_any_call(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn, name: str, why: str
) -> None:
    run = run_cli(get_args(org, f"gcpkms:{name}"), genv)
    run.assert_failed(2, why, "gcpkms:projects/PROJECT/locations/LOCATION")
    assert gcpkms.seen == []


@pytest.mark.parametrize(
    ("endpoint", "why"),
    [
        ("http://kms.example.com", "plain http to a remote host"),
        ("http://10.0.0.8:8080", "plain http to a remote host"),
        ("https://user:pw@kms.example.com", "must not carry credentials"),
        ("https://kms.example.com\\@127.0.0.1", "backslash"),
        ("https://kms.example.com/v1", "must have no path"),
        ("https://kms.example.com?x=1", "query"),
        ("https://127.1", "canonical dotted-quad"),
        ("ftp://kms.example.com", "not an http(s) URL"),
        ("https://kms.example.com:99999", "valid port"),
    ],
)
def test_endpoint_policy_is_the_login_urls(
    org: SalesforceEmulator, genv: dict[str, str], gcpkms: GcpKmsStandIn, endpoint: str, why: str
) -> None:
    env = {**genv, "SF_CREDPROC_GCPKMS_ENDPOINT": endpoint}
    run = run_cli(get_args(org, URI), env)
    run.assert_failed(2, "SF_CREDPROC_GCPKMS_ENDPOINT", why)
    assert "pw" not in run.stderr
    assert gcpkms.seen == []


@pytest.mark.parametrize(
    ("endpoint", "rebuilt"),
    [
        ("https://KMS.Example.COM.", "https://kms.example.com"),
        ("https://cloudkms.googleapis.com:443", "https://cloudkms.googleapis.com"),
        ("https://kms-psc.p.googleapis.com:8443/", "https://kms-psc.p.googleapis.com:8443"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("", None),
    ],
)
def test_endpoint_is_rebuilt_from_its_checked_parts(endpoint: str, rebuilt: str | None) -> None:
    assert gcpkms_endpoint({"SF_CREDPROC_GCPKMS_ENDPOINT": endpoint}) == rebuilt


def test_endpoint_errors_never_show_user_info() -> None:
    with pytest.raises(ConfigError) as refused:
        gcpkms_endpoint({"SF_CREDPROC_GCPKMS_ENDPOINT": "https://me:s3cret-pw@kms.example.com"})
    assert "s3cret-pw" not in str(refused.value)


def test_the_endpoint_is_in_the_settings_table() -> None:
    assert "`SF_CREDPROC_GCPKMS_ENDPOINT`" in render_settings_table()


def test_missing_extra_is_exit_2_with_the_install_line(
    org: SalesforceEmulator, genv: dict[str, str], tmp_path: Path
) -> None:
    """A Python without Google's CRC32C package (a ``-S``-free way to take one package away:
    a module of that name that fails to import, first on the path)."""
    shadow = tmp_path / "without-gcp"
    shadow.mkdir()
    (shadow / "google_crc32c.py").write_text(
        'raise ImportError("not installed", name="google_crc32c")\n'
    )
    run = run_process(get_args(org, URI), {**genv, "PYTHONPATH": str(shadow)})
    run.assert_failed(2, "google_crc32c", "pip install 'sf-credproc[gcp]'")


def test_other_key_sources_never_import_the_sdk(
    org: SalesforceEmulator, env: dict[str, str], key: str
) -> None:
    """The SDK costs ~0.3 s to import: only gcpkms: keys pay it."""
    probe = (
        "import sys\n"
        "from sf_credproc.cli.main import main\n"
        f"code = main({get_args(org, key)!r})\n"
        "assert not any(m.startswith(('google.cloud', 'google_crc32c', 'grpc')) for m in sys.modules)\n"
        "print('clean', int(code))\n"
    )
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # Only the last line: the lines before it are the credential, never to be shown by a failure.
    last_line = done.stdout.strip().splitlines()[-1]
    assert last_line == "clean 0"
