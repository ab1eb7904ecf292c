"""A loopback stand-in for Google Cloud KMS: exactly the two REST calls the ``gcpkms:`` signer makes.

Cloud KMS REST reference (v1): ``POST /v1/{name=projects/*/locations/*/keyRings/*/cryptoKeys/*/
cryptoKeyVersions/*}:asymmetricSign`` with an ``AsymmetricSignRequest`` (``digest.sha256``,
``digestCrc32c``) answered by an ``AsymmetricSignResponse`` (``signature``, ``signatureCrc32c``,
``verifiedDigestCrc32c``, ``name``, ``protectionLevel``), and ``GET /v1/{name=...}/publicKey``
answered by a ``PublicKey`` (``pem``, ``algorithm``, ``pemCrc32c``, ``name``, ``protectionLevel``).
int64 fields travel as JSON strings, bytes as standard base64 (proto3 JSON mapping). Errors are
Google's JSON error body ``{"error": {"code", "message", "status"}}``.

Authentication is checked as Google checks it: a bearer token that this stand-in's OAuth token
endpoint issued (the JWT bearer grant of a service account, RFC 7523), or a JWT the service
account signed itself (google-auth's self-signed JWT access); anything else is 401. Each key
version signs with a real private key, so the assertions it signs verify at the emulator.

Faults (``fail``) make the answers hostile: wrong CRC32C fields, another name, a signature by
another key, an HTTP error, or no answer at all.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import google_crc32c
import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from helpers import SECRETS, pem_private

#: CryptoKeyVersionAlgorithm (Cloud KMS REST reference), name -> enum number.
ALGORITHMS = {
    "RSA_SIGN_PSS_2048_SHA256": 2,
    "RSA_SIGN_PKCS1_2048_SHA256": 5,
    "RSA_SIGN_PKCS1_3072_SHA256": 6,
    "RSA_SIGN_PKCS1_4096_SHA256": 7,
    "EC_SIGN_P256_SHA256": 12,
}
TOKEN_PATH = "/token"
#: Google's canonical error statuses by HTTP code (google.rpc.Code's HTTP mapping).
STATUSES = {
    400: "FAILED_PRECONDITION",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
VERSION = (
    "projects/acme-sf/locations/europe-west1/keyRings/salesforce/cryptoKeys/jwt/cryptoKeyVersions/1"
)
#: The key URI of ``VERSION``.
URI = f"gcpkms:{VERSION}"


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


@dataclass
class KeyVersion:
    """One CryptoKeyVersion: its private key (RSA or EC) and its algorithm's name."""

    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    algorithm: str

    def sign(self, digest: bytes) -> bytes:
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            return self.private_key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        if "_PSS_" in self.algorithm:
            pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
            return self.private_key.sign(digest, pss, utils.Prehashed(hashes.SHA256()))
        return self.private_key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))

    def pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )


@dataclass
class Fault:
    """What to do instead of a good answer, for ``times`` requests (None: every one) to ``call``
    (``asymmetricSign``, ``publicKey`` or None for both)."""

    kind: str
    call: str | None = None
    times: int | None = None
    status: int = 0
    message: str = ""


@dataclass
class Seen:
    """One request as the stand-in saw it."""

    method: str
    path: str
    body: dict[str, Any]
    #: ``token``, ``self-signed`` or ``anonymous``.
    auth: str


@dataclass
class ServiceAccount:
    """A service account of the stand-in: its key file (``GOOGLE_APPLICATION_CREDENTIALS``)."""

    email: str
    key: rsa.RSAPrivateKey
    path: Path


@dataclass
class _State:
    keys: dict[str, KeyVersion] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    accounts: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    require_auth: bool = True


class GcpKmsStandIn:
    """The stand-in server: ``url`` is the endpoint to give ``SF_CREDPROC_GCPKMS_ENDPOINT``."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        """Plain http on loopback, or https with ``ssl_context`` (a private endpoint's TLS)."""
        self.state = _State()
        self.lock = threading.Lock()
        self.released = threading.Event()
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> GcpKmsStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()

    def add_key(
        self,
        private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
        algorithm: str = "RSA_SIGN_PKCS1_2048_SHA256",
        name: str = VERSION,
    ) -> str:
        with self.lock:
            self.state.keys[name] = KeyVersion(private_key, algorithm)
        return name

    def fail(self, kind: str, *, call: str | None = None, times: int | None = None, status: int = 0,
             message: str = "") -> None:  # fmt: skip
        """Answer the next ``times`` requests (to ``call``) with fault ``kind``: ``digest-crc``
        (verifiedDigestCrc32c false), ``signature-crc``, ``pem-crc``, ``name`` (another version's
        name), ``other-key`` (a signature by another key), ``status`` (an HTTP error), ``hang``
        (no answer until the stand-in stops)."""
        with self.lock:
            self.state.faults.append(Fault(kind, call, times, status, message))

    def service_account(self, directory: Path) -> ServiceAccount:
        """A new service account whose key file points its ``token_uri`` at this stand-in."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        email = f"sf-signer-{secrets.token_hex(3)}@acme-sf.iam.gserviceaccount.com"
        pem = pem_private(key).decode("ascii")  # its lines join helpers.SECRETS
        document = {
            "type": "service_account",
            "project_id": "acme-sf",
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": email,
            "client_id": str(secrets.randbelow(10**20)),
            "token_uri": self.url + TOKEN_PATH,
        }
        path = directory / "service-account.json"
        path.write_text(json.dumps(document))
        path.chmod(0o600)
        with self.lock:
            self.state.accounts[email] = key.public_key()
        return ServiceAccount(email, key, path)

    @property
    def seen(self) -> list[Seen]:
        with self.lock:
            return list(self.state.seen)

    def calls(self, call: str) -> list[Seen]:
        """The requests to ``call`` (``asymmetricSign`` or ``publicKey``) so far."""
        return [s for s in self.seen if urlsplit(s.path).path.endswith(call)]

    def _fault_for(self, call: str) -> Fault | None:
        with self.lock:
            for fault in self.state.faults:
                if fault.call not in (None, call) or fault.times == 0:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def _issue_token(self, assertion: str) -> dict[str, Any] | None:
        """RFC 7523's JWT bearer grant: a token for an assertion a known account signed."""
        email = self._signed_by(assertion, audience=self.url + TOKEN_PATH)
        if email is None:
            return None
        token = "ya29.standin-" + secrets.token_urlsafe(32)
        SECRETS.add(token)
        with self.lock:
            self.state.tokens.add(token)
        return {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def _signed_by(self, token: str, audience: str | None) -> str | None:
        """The account that signed ``token`` (a JWT), else None."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        email = unverified.get("iss")
        with self.lock:
            public = self.state.accounts.get(email) if isinstance(email, str) else None
        if public is None:
            return None
        try:
            jwt.decode(
                token,
                public,
                algorithms=["RS256"],
                audience=audience,
                options={"verify_aud": audience is not None},
            )
        except jwt.PyJWTError:
            return None
        return str(email)

    def _authenticated(self, header: str | None) -> str | None:
        """How the request authenticated (``token``, ``self-signed``, ``anonymous``), else None."""
        if not header:
            return None if self.state.require_auth else "anonymous"
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer":
            return None
        SECRETS.add(token)  # a Google access token or a self-signed JWT: never in any output
        with self.lock:
            if token in self.state.tokens:
                return "token"
        return "self-signed" if self._signed_by(token, audience=None) else None


def _error(status: int, message: str) -> dict[str, Any]:
    return {
        "error": {"code": status, "message": message, "status": STATUSES.get(status, "UNKNOWN")}
    }


class _Handler(BaseHTTPRequestHandler):
    standin: GcpKmsStandIn
    protocol_version = "HTTP/1.1"
    #: Without it, warm keep-alive requests stall ~40 ms (Nagle and delayed ACKs).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        raw = self._body()
        if path == TOKEN_PATH:
            form = parse_qs(raw.decode())
            granted = None
            if form.get("grant_type") == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
                granted = self.standin._issue_token(form.get("assertion", [""])[0])
            if granted is None:
                self._answer(400, {"error": "invalid_grant", "error_description": "Invalid JWT"})
            else:
                self._answer(200, granted)
            return
        if not path.startswith("/v1/") or not path.endswith(":asymmetricSign"):
            self._answer(404, _error(404, "Not found"))
            return
        self._kms("asymmetricSign", path[len("/v1/") : -len(":asymmetricSign")], raw)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if not parts.path.startswith("/v1/") or not parts.path.endswith("/publicKey"):
            self._answer(404, _error(404, "Not found"))
            return
        self._kms("publicKey", parts.path[len("/v1/") : -len("/publicKey")], b"", parts.query)

    def _kms(self, call: str, name: str, raw: bytes, query: str = "") -> None:
        standin = self.standin
        body = json.loads(raw) if raw else {}
        auth = standin._authenticated(self.headers.get("Authorization"))
        with standin.lock:
            standin.state.seen.append(Seen(self.command, self.path, body, auth or "refused"))
        if auth is None:
            self._answer(401, _error(401, "Request had invalid authentication credentials."))
            return
        fault = standin._fault_for(call)
        if fault is not None and fault.kind == "hang":
            standin.released.wait(120)
            return
        if fault is not None and fault.kind == "status":
            self._answer(fault.status, _error(fault.status, fault.message or "Injected"))
            return
        with standin.lock:
            version = standin.state.keys.get(name)
        if version is None:
            self._answer(404, _error(404, f"{name} not found."))
            return
        kind = fault.kind if fault is not None else ""
        shown_name = (
            name.replace("/cryptoKeyVersions/1", "/cryptoKeyVersions/2") if kind == "name" else name
        )
        if call == "publicKey":
            pem = version.pem()
            enum = "enum-encoding=int" in unquote(query)
            self._answer(
                200,
                {
                    "pem": pem,
                    "algorithm": ALGORITHMS[version.algorithm] if enum else version.algorithm,
                    "pemCrc32c": str(crc32c(pem.encode()) ^ (1 if kind == "pem-crc" else 0)),
                    "name": shown_name,
                    "protectionLevel": 1 if enum else "SOFTWARE",
                },
            )
            return
        digest = base64.b64decode(body.get("digest", {}).get("sha256", ""))
        sent_crc = body.get("digestCrc32c")
        if len(digest) != 32:
            self._answer(400, _error(400, "Digest must be 32 bytes"))
            return
        if sent_crc is not None and int(sent_crc) != crc32c(digest):
            self._answer(400, _error(400, "The checksum in field digest_crc32c did not match"))
            return
        signer = version
        if kind == "other-key":
            signer = KeyVersion(rsa.generate_private_key(public_exponent=65537, key_size=2048),
                                version.algorithm)  # fmt: skip
        signature = signer.sign(digest)
        self._answer(
            200,
            {
                "signature": base64.b64encode(signature).decode(),
                "signatureCrc32c": str(crc32c(signature) ^ (1 if kind == "signature-crc" else 0)),
                "verifiedDigestCrc32c": sent_crc is not None and kind != "digest-crc",
                "name": shown_name,
                "protectionLevel": "HSM",
            },
        )


def gcp_env(env: dict[str, str], standin: GcpKmsStandIn, directory: Path) -> dict[str, str]:
    """``env`` with Application Default Credentials (a service account's key file, whose
    ``token_uri`` is the stand-in) and the stand-in as the Cloud KMS endpoint. ``NO_GCE_CHECK``
    keeps google-auth from probing a metadata server when a test removes the credentials."""
    account = standin.service_account(directory)
    return {
        **env,
        "GOOGLE_APPLICATION_CREDENTIALS": str(account.path),
        "SF_CREDPROC_GCPKMS_ENDPOINT": standin.url,
        "NO_GCE_CHECK": "true",
    }
