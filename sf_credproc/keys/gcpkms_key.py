"""An RSA private key in Google Cloud KMS: ``asymmetricSign`` signs; the key never leaves Google.

Cloud KMS REST reference: ``cryptoKeyVersions.asymmetricSign`` takes the SHA-256 ``digest`` of
the data for the ``RSA_SIGN_PKCS1_*_SHA256`` algorithms (RSASSA-PKCS1-v1_5 with SHA-256: RS256),
and needs ``cloudkms.cryptoKeyVersions.useToSign`` alone. ``cert`` and ``doctor`` read the public
key with ``cryptoKeyVersions.getPublicKey`` (``cloudkms.cryptoKeyVersions.viewPublicKey``), whose
``algorithm`` tells an RS256 key from the others (PSS, ECDSA), which are refused.

Integrity, as Google's "Verifying end-to-end data integrity" asks of callers (the SDK checks
nothing): the request carries ``digest_crc32c``; the answer must say
``verified_digest_crc32c``, name the version asked for, and carry a ``signature_crc32c`` equal to
the CRC32C (Castagnoli, ``google-crc32c``; not zlib's CRC-32) of the signature; ``pem_crc32c``
likewise for the public key. A mismatch means bytes were damaged on the way: Google's advice is to
discard the answer and retry a limited number of times, so it is a transient error (exit 5), which
the login retries within ``--timeout`` with a fresh request.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import KeySourceError, TransientError
from ..oauth.oauth_errors import untrusted_line
from .gcpkms_errors import GcpKmsCall
from .remote_key import MIN_RSA_BITS, RemoteRsaPrivateKey, UnsuitableKeyError

#: The CryptoKeyVersionAlgorithm values that sign RS256, with their key sizes.
RS256_ALGORITHMS = {
    "RSA_SIGN_PKCS1_2048_SHA256": 2048,
    "RSA_SIGN_PKCS1_3072_SHA256": 3072,
    "RSA_SIGN_PKCS1_4096_SHA256": 4096,
}
SIGN_PERMISSION = "cloudkms.cryptoKeyVersions.useToSign"
VIEW_PERMISSION = "cloudkms.cryptoKeyVersions.viewPublicKey"
CREATE_HINT = (
    "Create a key with purpose asymmetric-signing and algorithm RSA_SIGN_PKCS1_2048_SHA256 "
    "(or _3072_ / _4096_): gcloud kms keys create KEY --keyring RING --location LOCATION "
    "--purpose asymmetric-signing --default-algorithm rsa-sign-pkcs1-2048-sha256"
)


class KmsCaller(Protocol):
    """The client's one entry point (``gcpkms_client.GcpKmsClient`` has it)."""

    endpoint: str | None

    def call(self, call: GcpKmsCall, method: str, request: dict[str, Any]) -> Any: ...


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli), as Cloud KMS computes it."""
    import google_crc32c

    return int(google_crc32c.value(data))


class GcpKmsRsaPrivateKey(RemoteRsaPrivateKey):
    """An ``RSAPrivateKey`` whose private half is the Cloud KMS key version ``version_name``."""

    key_hint = CREATE_HINT

    def __init__(self, version_name: str, client: KmsCaller) -> None:
        super().__init__(f"gcpkms:{version_name}", "Google Cloud KMS")
        self.version_name = version_name
        self._client = client
        self._algorithm: str | None = None

    def __repr__(self) -> str:
        return f"GcpKmsRsaPrivateKey({self.version_name!r})"

    def _sign_rs256(self, data: bytes) -> bytes:
        digest = hashlib.sha256(data).digest()
        call = GcpKmsCall("asymmetricSign", SIGN_PERMISSION, self.name)
        answer = self._client.call(
            call,
            "asymmetric_sign",
            {
                "name": self.version_name,
                "digest": {"sha256": digest},
                "digest_crc32c": crc32c(digest),
            },
        )
        self._check_name(answer, "asymmetricSign")
        if not answer.verified_digest_crc32c:
            raise self._damaged("asymmetricSign", "the request's digest_crc32c was not verified")
        signature = bytes(answer.signature)
        if int(answer.signature_crc32c) != crc32c(signature):
            raise self._damaged("asymmetricSign", "the signature does not match signature_crc32c")
        if len(signature) * 8 < MIN_RSA_BITS:
            self._name_the_algorithm()
        return signature

    def _name_the_algorithm(self) -> None:
        """A signature too short for RSA (ECDSA): when getPublicKey is allowed, the refusal names
        the key's algorithm; else the base class refuses the signature by its length."""
        from ..errors import CredProcError

        try:
            self.public_key()
        except UnsuitableKeyError:
            raise
        except CredProcError:
            pass

    def _fetch_public_key(self) -> rsa.RSAPublicKey:
        """``getPublicKey`` (a set-up permission): name and ``pem_crc32c`` checked, the
        algorithm one of RS256's; the base class checks type and size."""
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        call = GcpKmsCall("getPublicKey", VIEW_PERMISSION, self.name)
        answer = self._client.call(call, "get_public_key", {"name": self.version_name})
        self._check_name(answer, "getPublicKey")
        pem = str(answer.pem).encode("utf-8")
        if int(answer.pem_crc32c) != crc32c(pem):
            raise self._damaged("getPublicKey", "the public key does not match pem_crc32c")
        algorithm = getattr(answer.algorithm, "name", str(answer.algorithm))
        self._algorithm = untrusted_line(str(algorithm), limit=60)
        if self._algorithm not in RS256_ALGORITHMS:
            raise UnsuitableKeyError(
                f"{self.name} has algorithm {self._algorithm}; RS256 (Salesforce's JWT bearer "
                f"flow) needs {', '.join(RS256_ALGORITHMS)}",
                hint=CREATE_HINT,
            )
        try:
            public = load_pem_public_key(pem)
        except ValueError:
            raise KeySourceError(
                f"{self.name}: Cloud KMS's public key is not a readable PEM", hint=CREATE_HINT
            ) from None
        if not isinstance(public, rsa.RSAPublicKey):
            raise UnsuitableKeyError(f"{self.name} is not an RSA key", hint=CREATE_HINT)
        return public

    def _check_name(self, answer: Any, method: str) -> None:
        if str(answer.name) != self.version_name:
            raise self._damaged(method, "the answer names another key version")

    def _damaged(self, method: str, what: str) -> TransientError:
        # Google: "discard the response and retry"; a retry sends the request afresh.
        return TransientError(
            f"Cloud KMS {method} on {self.name}: {what} (damaged in transit)",
            hint="Retry; if it persists, check for a proxy that rewrites traffic to Cloud KMS",
        )

    def describe(self) -> str:
        """Where the key is, and its algorithm once ``getPublicKey`` has said it."""
        where = f"in Google Cloud KMS at {self._client.endpoint or 'cloudkms.googleapis.com'}"
        return f"{where} ({self._algorithm})" if self._algorithm else where
