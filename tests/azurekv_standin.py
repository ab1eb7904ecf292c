"""A loopback HTTPS stand-in for Azure Key Vault and the Microsoft Entra token endpoint.

It implements only the documented calls the Azure SDK makes for an ``azurekv:`` key, signing with a
real RSA key so that the Salesforce emulator verifies the assertion:

- Key Vault "Authentication" (https://learn.microsoft.com/azure/key-vault/general/authentication-requests-and-responses):
  a request without a valid bearer token is answered 401 with ``WWW-Authenticate: Bearer
  authorization="https://login.microsoftonline.com/TENANT", resource="https://vault.azure.net"``;
- ``GET /keys/{name}[/{version}]`` answers the key bundle, the key as a JWK ("Get Key",
  https://learn.microsoft.com/rest/api/keyvault/keys/get-key/get-key);
- ``POST /keys/{name}/{version}/sign`` with ``{"alg", "value"}`` (base64url of the digest) answers
  ``{"kid", "value"}`` ("Sign", https://learn.microsoft.com/rest/api/keyvault/keys/sign/sign);
- errors as Key Vault sends them: ``{"error": {"code", "message"}}`` with the status;
- the Entra token endpoint of workload identity (``POST /{tenant}/oauth2/v2.0/token`` with
  ``client_assertion``: OAuth 2.0 client credentials with a federated credential), so that
  ``DefaultAzureCredential`` itself runs, offline (``AZURE_AUTHORITY_HOST`` names this server).

It does not cover key rotation policies, soft delete, CAE claims challenges, regional failover or
Managed HSM's own role management. A ``fault`` makes the next calls of one operation fail (a status
and Key Vault error code, a hang, a signature by another key, an EC key, a challenge for another
resource).
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import trustme
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from helpers import SECRETS

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "0d5e0a5c-1c49-4c1e-9a1c-6f7d3c1e2b11"
VERSION = "4c7f3a1e2b9d4e8f8a6b5c4d3e2f1a0b"
#: Names the stand-in's certificate carries (real vault hosts are reached through a CONNECT proxy).
TLS_NAMES = ("127.0.0.1", "localhost", "*.vault.azure.net", "*.managedhsm.azure.net")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Fault:
    """How the next ``times`` calls of one operation (``get``, ``sign``, ``token``) fail."""

    status: int = 0
    code: str = ""
    hang: bool = False
    retry_after: str | None = None
    times: int = 1000


@dataclass
class Seen:
    """One request the stand-in answered."""

    method: str
    path: str
    host: str
    authorized: bool


@dataclass
class KeyVaultStandIn:
    """The server's state: the key, the token it issues, faults, and what it saw."""

    ca: trustme.CA
    key: rsa.RSAPrivateKey
    kty: str = "RSA"
    #: Sign with another key than the JWK's (a signature that does not verify).
    wrong_signer: rsa.RSAPrivateKey | None = None
    #: Answer with an EC key (JWK and signatures): not RSA.
    ec_key: ec.EllipticCurvePrivateKey | None = None
    resource: str = "https://vault.azure.net"
    key_name: str = "jwt"
    faults: dict[str, Fault] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    token: str = field(default_factory=lambda: "eyJ0eXAi." + secrets.token_urlsafe(48))
    federated_token: str = field(default_factory=lambda: "eyJmZWQi." + secrets.token_urlsafe(48))
    token_requests: list[dict[str, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    #: Hosts of its own: the SDK caches a vault's challenge per host for the life of the process.
    vault_host: str = field(default_factory=lambda: f"sfcp{secrets.token_hex(4)}.vault.azure.net")
    hsm_host: str = field(
        default_factory=lambda: f"sfcp{secrets.token_hex(4)}.managedhsm.azure.net"
    )

    def __post_init__(self) -> None:
        SECRETS.update({self.token, self.federated_token})
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert(*TLS_NAMES).configure_cert(context)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._server.standin = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()

    def key_uri(self, host: str = "loopback", version: str | None = VERSION) -> str:
        """``azurekv:`` for this stand-in: on ``loopback`` or ``localhost``, or under a real
        ``vault`` or ``hsm`` host name (reached through a CONNECT proxy)."""
        names = {
            "vault": self.vault_host,
            "hsm": self.hsm_host,
            "loopback": f"127.0.0.1:{self.port}",
            # The SDK caches a challenge per host and port for the life of the process, and a
            # port may come back: tests of hostile challenges use this name alone.
            "localhost": f"localhost:{self.port}",
        }
        base = f"https://{names[host]}"
        return f"azurekv:{base}/keys/{self.key_name}" + (f"/{version}" if version else "")

    def fail(self, operation: str, fault: Fault) -> None:
        self.faults[operation] = fault

    def calls(self, method: str, suffix: str = "") -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.endswith(suffix)]

    def jwk(self, host: str) -> dict[str, Any]:
        kid = f"https://{host}/keys/{self.key_name}/{VERSION}"
        if self.ec_key is not None:
            numbers = self.ec_key.public_key().public_numbers()
            return {
                "kid": kid,
                "kty": "EC",
                "crv": "P-256",
                "x": b64url(numbers.x.to_bytes(32, "big")),
                "y": b64url(numbers.y.to_bytes(32, "big")),
                "key_ops": ["sign", "verify"],
            }
        public = self.key.public_key().public_numbers()
        size = (public.n.bit_length() + 7) // 8
        return {
            "kid": kid,
            "kty": self.kty,
            "n": b64url(public.n.to_bytes(size, "big")),
            "e": b64url(public.e.to_bytes(3, "big")),
            "key_ops": ["sign", "verify"],
        }

    def sign(self, digest: bytes) -> bytes:
        if self.ec_key is not None:
            return self.ec_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        signer = self.wrong_signer or self.key
        return signer.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def standin(self) -> KeyVaultStandIn:
        return self.server.standin  # type: ignore[attr-defined,no-any-return]

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _fault(self, operation: str) -> bool:
        """Play the operation's fault, if any: True when it answered."""
        fault = self.standin.faults.get(operation)
        if fault is None or fault.times <= 0:
            return False
        fault.times -= 1
        if fault.hang:
            self.standin.stop.wait(120)
            return True
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        error = {"code": fault.code or "Error", "message": f"stand-in {fault.code or 'error'}"}
        if operation == "token":
            error = {"error": fault.code or "invalid_client", "error_description": "AADSTS7000215"}
            self._send(fault.status, error, headers)
        else:
            self._send(fault.status, {"error": error}, headers)
        return True

    def _handle(self, method: str) -> None:
        standin = self.standin
        path = urllib.parse.urlsplit(self.path).path
        body = self._body()
        authorized = self.headers.get("Authorization") == f"Bearer {standin.token}"
        standin.seen.append(Seen(method, path, self.headers.get("Host", ""), authorized))
        if method == "POST" and path == f"/{TENANT}/oauth2/v2.0/token":
            self._token(dict(urllib.parse.parse_qsl(body.decode())))
            return
        if not authorized:
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
                f'resource="{standin.resource}"'
            )
            self._send(
                401,
                {
                    "error": {
                        "code": "Unauthorized",
                        "message": "AKV10000: Request is missing a Bearer or PoP token.",
                    }
                },
                {"WWW-Authenticate": challenge},
            )
            return
        parts = path.split("/")
        # /keys/NAME, /keys/NAME/VERSION (GET); /keys/NAME/VERSION/sign (POST, VERSION may be "")
        if len(parts) < 3 or parts[1] != "keys" or parts[2] != standin.key_name:
            self._send(404, {"error": {"code": "KeyNotFound", "message": "no such key"}})
            return
        if method == "GET" and len(parts) in (3, 4):
            if parts[3:] not in ([], [""], [VERSION]):  # no version, or "": the latest
                self._send(404, {"error": {"code": "KeyNotFound", "message": "no such version"}})
            elif not self._fault("get"):
                self._send(
                    200,
                    {
                        "key": standin.jwk(self.headers.get("Host", "")),
                        "attributes": {"enabled": True},
                    },
                )
            return
        if method == "POST" and len(parts) == 5 and parts[4] == "sign":
            if parts[3] not in ("", VERSION):
                self._send(404, {"error": {"code": "KeyNotFound", "message": "no such version"}})
                return
            request = json.loads(body)
            if self._fault("sign"):
                return
            digest = b64url_decode(request["value"])
            if request.get("alg") != "RS256" or len(digest) != 32:
                self._send(400, {"error": {"code": "BadParameter", "message": "bad alg/digest"}})
                return
            kid = f"https://{self.headers.get('Host', '')}/keys/{standin.key_name}/{VERSION}"
            self._send(200, {"kid": kid, "value": b64url(standin.sign(digest))})
            return
        self._send(405, {"error": {"code": "MethodNotAllowed", "message": "not allowed"}})

    def _token(self, form: dict[str, str]) -> None:
        standin = self.standin
        standin.token_requests.append(
            {k: v for k, v in form.items() if k not in ("client_assertion", "client_secret")}
        )
        if self._fault("token"):
            return
        if (
            form.get("client_assertion") != standin.federated_token
            or form.get("client_id") != CLIENT
        ):
            self._send(401, {"error": "invalid_client", "error_description": "AADSTS700024"})
            return
        self._send(
            200,
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": standin.token,
            },
        )


def workload_identity_env(standin: KeyVaultStandIn, directory: str) -> dict[str, str]:
    """The variables of Azure workload identity (as AKS sets them), pointing at the stand-in."""
    path = f"{directory}/azure-federated-token"
    with open(path, "w") as file:
        file.write(standin.federated_token)
    return {
        "AZURE_AUTHORITY_HOST": standin.url,
        "AZURE_TENANT_ID": TENANT,
        "AZURE_CLIENT_ID": CLIENT,
        "AZURE_FEDERATED_TOKEN_FILE": path,
    }
