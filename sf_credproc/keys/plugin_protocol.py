"""The signer plugin protocol, version 1: one JSON request on stdin, one JSON answer on stdout.

Requests (``key`` is the whole key URI, ``NAME:REST``)::

    {"version": 1, "operation": "sign", "key": "...", "algorithm": "RS256",
     "message": "<standard base64 of the bytes to sign>"}
    {"version": 1, "operation": "public-key", "key": "..."}

Answers, exit status 0::

    {"version": 1, "signature": "<standard base64 of the RSASSA-PKCS1-v1_5 SHA-256 signature>"}
    {"version": 1, "public_key_pem": "-----BEGIN PUBLIC KEY-----..."}

Failure: a non-zero exit status and ``{"version": 1, "error": {"kind": K, "message": "..."}}``, K
one of ``key-source`` (exit 3), ``transient`` (exit 5, retried within the deadline) or
``configuration`` (exit 2). Anything else (no JSON, more than ``MAX_ANSWER_BYTES``, another
version, a field missing or of the wrong shape) breaks the contract: exit 3. The plugin's message is
shown reduced to one line of printable text; the signature and the message signed never are. The
signature's own checks (RSA, 2048 bits or more) are ``remote_key.RemoteRsaPrivateKey``'s.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import ConfigError, CredProcError, KeySourceError, TransientError
from ..oauth.oauth_errors import untrusted_line

PROTOCOL_VERSION = 1
#: An answer is a signature or a public key: a few kilobytes. More is refused, and never buffered.
MAX_ANSWER_BYTES = 64 * 1024
#: RSA moduli stop at 16384 bits in practice (the largest any token or KMS offers is 4096).
MAX_SIGNATURE_BYTES = 16384 // 8
#: How much of a plugin's error message a one-line error keeps.
MAX_MESSAGE_CHARS = 300

_CONTRACT_HINT = (
    "The plugin breaks signer protocol version 1; fix or update it (see the README, Signer plugins)"
)


def sign_request(uri: str, message: bytes) -> bytes:
    """The ``sign`` request for ``message`` (RS256: RSASSA-PKCS1-v1_5 with SHA-256)."""
    return _encode(
        {
            "version": PROTOCOL_VERSION,
            "operation": "sign",
            "key": uri,
            "algorithm": "RS256",
            "message": base64.b64encode(message).decode("ascii"),
        }
    )


def public_key_request(uri: str) -> bytes:
    """The ``public-key`` request."""
    return _encode({"version": PROTOCOL_VERSION, "operation": "public-key", "key": uri})


def _encode(request: dict[str, Any]) -> bytes:
    return (json.dumps(request) + "\n").encode("utf-8")


def read_signature(plugin: str, status: int, output: bytes) -> bytes:
    """The signature in a ``sign`` answer (its length is checked by the remote key)."""
    text = _field(plugin, status, output, "signature")
    try:
        signature = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise _broken(plugin, "answered a signature that is not standard base64") from None
    if not signature or len(signature) > MAX_SIGNATURE_BYTES:
        raise _broken(plugin, f"answered a {len(signature)}-byte signature, not an RSA signature")
    return signature


def read_public_key(plugin: str, status: int, output: bytes, hint: str) -> rsa.RSAPublicKey:
    """The RSA public key in a ``public-key`` answer."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    text = _field(plugin, status, output, "public_key_pem")
    try:
        public = load_pem_public_key(text.encode("utf-8"))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _broken(plugin, "answered a public_key_pem that is not a PEM public key") from None
    if not isinstance(public, rsa.RSAPublicKey):
        raise KeySourceError(f"the key of {plugin} is not an RSA key", hint=hint)
    return public


def _field(plugin: str, status: int, output: bytes, name: str) -> str:
    """The string field ``name`` of a successful answer, or the error the answer stands for."""
    answer = _answer(plugin, status, output)
    if "error" in answer:
        raise _reported_error(plugin, answer["error"])
    if status != 0:
        raise _broken(plugin, f"exited with status {status} and no error object")
    value = answer.get(name)
    if not isinstance(value, str) or not value:
        raise _broken(plugin, f"answered no {name} string")
    return value


def _answer(plugin: str, status: int, output: bytes) -> dict[str, Any]:
    failed = f" (exit status {status})" if status else ""
    try:
        answer = json.loads(output.decode("utf-8"))
    # RecursionError: "[[[[..." nested deeper than the parser's stack.
    except (ValueError, RecursionError):
        raise _broken(plugin, f"answered no JSON{failed}") from None
    if not isinstance(answer, dict):
        raise _broken(plugin, f"answered JSON that is not an object{failed}")
    version = answer.get("version")
    if type(version) is not int or version != PROTOCOL_VERSION:
        shown = "none" if version is None else untrusted_line(json.dumps(version), 20)
        raise _broken(plugin, f"answered protocol version {shown}, not {PROTOCOL_VERSION}")
    return answer


def _reported_error(plugin: str, error: Any) -> CredProcError:
    """The plugin's own ``error`` object as our error: its kind decides the exit status."""
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return _broken(plugin, "answered an error that is not an object with a message")
    message = f"{plugin} failed: {untrusted_line(error['message'], MAX_MESSAGE_CHARS)}"
    kind = error.get("kind")
    if kind == "key-source":
        return KeySourceError(message, hint="Fix what the plugin names (its key, its access)")
    if kind == "transient":
        return TransientError(message, hint="Retry later, or raise --timeout")
    if kind == "configuration":
        return ConfigError(message, hint="Fix the plugin's configuration or the key URI")
    return _broken(
        plugin, "answered an error whose kind is not key-source, transient or configuration"
    )


def _broken(plugin: str, what: str) -> KeySourceError:
    return KeySourceError(f"{plugin} {what}", hint=_CONTRACT_HINT)
