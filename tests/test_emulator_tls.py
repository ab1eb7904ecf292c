"""``sf-credproc emulator --https`` and ``demo --https``: a throwaway CA whose printed path and
``trust:`` line make curl, requests, Python's ssl and Node verify the emulator; its files are
private and gone however the emulator stops; the printed ``get`` runs as printed."""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import signal
import sys
from pathlib import Path

import pytest
from cryptography import x509
from emulator_process import emulator_process, shell, shell_env
from helpers import Run, assert_no_leaks, base_env, run_cli

from sf_credproc.cli.emulator import TRUST_VARIABLES

PYTHON_REQUESTS = "import requests, sys; print(requests.get(sys.argv[1], timeout=30).status_code)"
PYTHON_URLLIB = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).status)"
NODE_HTTPS = (
    "require('https').get(process.argv[1], (r) => { r.resume(); console.log(r.statusCode); })"
    ".on('error', (e) => { console.error(e.code || e.message); process.exit(1); })"
)


def clients(url: str) -> dict[str, str]:
    """Each client's command fetching ``url`` (the version list: no session needed)."""
    return {
        "curl": f"curl -fsS {url}",
        "requests": f"{sys.executable} -c '{PYTHON_REQUESTS}' {url}",
        "urllib": f"{sys.executable} -c '{PYTHON_URLLIB}' {url}",
        "node": f'node -e "{NODE_HTTPS}" {url}',
    }


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("node") is None,
    reason="curl or node is not installed",
)
def test_the_printed_trust_line_makes_curl_python_and_node_verify_the_emulator(
    tmp_path: Path,
) -> None:
    env = shell_env(tmp_path)
    with emulator_process(["--https"], env) as emulator:
        assert re.fullmatch(r"https://127\.0\.0\.1:\d+", emulator.url)
        ca_path = emulator.ca_path
        assert emulator.trust_variables() == dict.fromkeys(TRUST_VARIABLES, str(ca_path))
        port = emulator.url.rsplit(":", 1)[1]
        for host in ("127.0.0.1", "localhost"):
            url = f"https://{host}:{port}/services/data"
            for name, command in clients(url).items():
                # Without the CA, each client refuses the certificate: the printed line is what
                # makes it trusted.
                refused = shell(command, env)
                assert refused.returncode != 0, (name, host, refused.stdout)
                trusted = shell(f"{emulator.trust}\n{command}", env)
                assert trusted.returncode == 0, (name, host, trusted.stderr)
                if name == "curl":
                    versions = [entry["version"] for entry in json.loads(trusted.stdout)]
                    assert "62.0" in versions
                else:
                    assert trusted.stdout == "200\n", (name, host)
    assert not ca_path.exists()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_https_files_are_private_removed_at_stop_and_the_printed_get_runs(
    stop: signal.Signals, tmp_path: Path
) -> None:
    env = shell_env(tmp_path)
    with emulator_process(["--https"], env, stop) as emulator:
        directory = emulator.ca_path.parent
        key_path = Path(emulator.lines["key"].removeprefix("file:"))
        assert key_path.parent == directory
        assert directory.stat().st_mode & 0o777 == 0o700
        assert key_path.stat().st_mode & 0o077 == 0
        # The server's own key was only loaded, never left on disk; the CA's key never written.
        assert sorted(p.name for p in directory.iterdir()) == ["ca.pem", key_path.name]
        assert "CA" in emulator.lines["stop"] and "deleted" in emulator.lines["stop"]
        assert emulator.lines["try"].startswith(f"REQUESTS_CA_BUNDLE={emulator.ca_path} ")
        pasted = shell(emulator.lines["try"], env)
        run = Run(pasted.returncode, pasted.stdout, pasted.stderr)
        assert_no_leaks(run)
        credential = run.credential()
        assert credential["InstanceUrl"] == emulator.url
        assert credential["Username"] == emulator.lines["username"]
    assert not directory.exists()


def test_the_throwaway_ca_is_constrained_to_loopback(tmp_path: Path) -> None:
    """Trusting the CA (NODE_EXTRA_CA_CERTS adds it to Node's roots) trusts it for loopback only,
    and its certificate is a CA certificate that strict verifiers (Python 3.13) accept."""
    with emulator_process(["--https"], shell_env(tmp_path)) as emulator:
        ca = x509.load_pem_x509_certificate(emulator.ca_path.read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical and constraints.value.excluded_subtrees is None
    assert set(constraints.value.permitted_subtrees or ()) == {
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_network("127.0.0.1/32")),
        x509.IPAddress(ipaddress.ip_network("::1/128")),
    }
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


def test_https_and_a_tls_certificate_are_refused_together(tmp_path: Path) -> None:
    argv = ["emulator", "--https", "--tls-cert", "cert.pem", "--tls-key", "key.pem"]
    run_cli(argv, base_env(tmp_path)).assert_failed(2, "--https makes its own certificate")


def test_demo_over_https_verifies_the_throwaway_ca_and_removes_it(
    tmp_path: Path, ca_bundle: str
) -> None:
    # The user's own CA bundle (another CA) is set aside: get trusts the throwaway CA alone.
    env = {**base_env(tmp_path), "REQUESTS_CA_BUNDLE": ca_bundle}
    run = run_cli(["demo", "--https"], env)
    assert run.credential()["InstanceUrl"].startswith("https://127.0.0.1:")
    found = re.search(r"throwaway CA at (\S+)", run.stderr)
    assert found is not None, run.stderr
    assert found[1].endswith("/ca.pem") and not Path(found[1]).parent.exists()
