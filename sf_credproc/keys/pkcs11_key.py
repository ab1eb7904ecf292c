"""An RSA private key inside a PKCS#11 token (an HSM, a smart card, SoftHSM): the token signs.

RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017, section 8.2). The token computes it with
``CKM_SHA256_RSA_PKCS`` (PKCS#11 v2.40 Current Mechanisms, section 2.1.11), hashing the message
itself; a token without that mechanism gets ``CKM_RSA_PKCS`` (section 2.1.6) over the DER
``DigestInfo`` of the SHA-256 digest, hashed here (RFC 8017, section 9.2, note 1), which yields
the same signature. The public key, for ``cert`` and ``doctor``, is the token's public key object
named like the private key, else the private key's ``CKA_MODULUS`` and ``CKA_PUBLIC_EXPONENT``
(public attributes even of a sensitive key, section 2.1.3).
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from .pkcs11_module import import_pkcs11, translate_pkcs11_error
from .remote_key import RemoteRsaPrivateKey

#: RFC 8017, section 9.2, note 1: the DER DigestInfo prefix of a SHA-256 digest.
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
HASH_ON_TOKEN = "CKM_SHA256_RSA_PKCS"
HASH_HERE = "CKM_RSA_PKCS over a SHA-256 DigestInfo"


class TokenKey(Protocol):
    """The private key's object in an open, logged-in session (``pkcs11_session.TokenSession``)."""

    #: Where the key is, for messages and ``doctor``: the token's label and the module's path.
    where: str

    def private_key(self) -> Any:
        """python-pkcs11's ``PrivateKey``, (re)opening the session if need be."""

    def public_key_object(self) -> Any | None:
        """The token's public key object named like the private key, if there is exactly one."""

    def signs_sha256(self) -> bool:
        """True when the token's slot offers ``CKM_SHA256_RSA_PKCS``."""

    def failed(self) -> None:
        """Forget the session after a device error: the next call opens a new one."""


class Pkcs11RsaPrivateKey(RemoteRsaPrivateKey):
    """An ``RSAPrivateKey`` whose private half stays in the token."""

    key_hint = "Generate an RSA key of 2048 bits or more inside the token (see hsm/README.md)"

    def __init__(self, name: str, token: TokenKey, *, hash_on_token: bool = True) -> None:
        """``hash_on_token`` False signs with ``CKM_RSA_PKCS`` over a DigestInfo even where the
        token offers ``CKM_SHA256_RSA_PKCS`` (tokens whose hash-and-sign mechanism misbehaves)."""
        super().__init__(name, f"the PKCS#11 token ({token.where})")
        self._token = token
        self._hash_on_token = hash_on_token
        self.mechanism: str | None = None

    def describe(self) -> str:
        how = f" with {self.mechanism}" if self.mechanism else ""
        return f"in the PKCS#11 token {self._token.where}, signing there{how}"

    def _sign_rs256(self, data: bytes) -> bytes:
        pkcs11 = import_pkcs11()
        try:
            key = self._token.private_key()
            if self._hash_on_token and self._token.signs_sha256():
                signature = key.sign(data, mechanism=pkcs11.Mechanism.SHA256_RSA_PKCS)
                self.mechanism = HASH_ON_TOKEN
            else:
                digest_info = SHA256_DIGEST_INFO + hashlib.sha256(data).digest()
                signature = key.sign(digest_info, mechanism=pkcs11.Mechanism.RSA_PKCS)
                self.mechanism = HASH_HERE
        except pkcs11.PKCS11Error as error:
            raise self._failure(error) from None
        return bytes(signature)

    def _fetch_public_key(self) -> rsa.RSAPublicKey:
        """The public key object, else the private key's public attributes; the base class
        checks the size."""
        pkcs11 = import_pkcs11()
        attribute = pkcs11.Attribute
        try:
            holder = self._token.public_key_object() or self._token.private_key()
            modulus = bytes(holder[attribute.MODULUS])
            exponent = bytes(holder[attribute.PUBLIC_EXPONENT])
        except pkcs11.PKCS11Error as error:
            raise self._failure(error) from None
        numbers = rsa.RSAPublicNumbers(
            int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big")
        )
        return numbers.public_key()

    def _failure(self, error: Exception) -> Exception:
        translated = translate_pkcs11_error(error, self.name)
        if translated.retryable:
            self._token.failed()
        return translated
