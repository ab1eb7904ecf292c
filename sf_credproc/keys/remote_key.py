"""An RSA private key held by a remote signer (KMS, Vault Transit, an HSM, a plugin): it signs there.

Each subclass implements cryptography's ``RSAPrivateKey`` through two calls of its own signer,
``_sign_rs256`` and ``_fetch_public_key``, so PyJWT (assertions) and cryptography's
``CertificateBuilder`` (certificates) use it exactly like a local key: one signing path for every
key source. What is common lives here: RS256 only, the key size learned from the first signature
(so that the run-time path needs the sign permission alone), a signature that is not an RSA
signature of at least 2048 bits refused (RFC 7518, section 3.3), and no way to export the key.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, NoReturn

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..errors import InternalError, KeySourceError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import serialization

#: RFC 7518, section 3.3: "A key of size 2048 bits or larger MUST be used" with RS256.
MIN_RSA_BITS = 2048
#: The key sizes remote signers offer for RS256: the advice every "wrong key" message gives.
RSA_KEY_HINT = "Use an RSA key of 2048, 3072 or 4096 bits"


class UnsuitableKeyError(KeySourceError):
    """The signer holds a key that cannot sign RS256 (not RSA, too small, another algorithm): read
    and judged, unlike a key that could not be read at all (``doctor`` fails it, not skips it)."""


class RemoteRsaPrivateKey(rsa.RSAPrivateKey):
    """An ``RSAPrivateKey`` whose private half stays with its signer.

    The ``key_size`` contract: a lower bound until the signer has said more, exact after. Before
    the first signature (or ``public_key()``) it is 2048, RS256's minimum, so that the run-time path
    needs no call that reads the key; a smaller key is refused as soon as it signs.
    """

    #: The fix for a key that is not RSA of 2048 bits or more, in the signer's own words.
    key_hint = RSA_KEY_HINT

    def __init__(self, name: str, signer: str) -> None:
        """``name``: the key as messages say it (``transit:transit/sf-jwt``); ``signer``: who
        holds it, for ``doctor`` and for "never leaves" messages (``Vault Transit``)."""
        self.name = name
        self.signer = signer
        self._key_size: int | None = None
        self._public_key: rsa.RSAPublicKey | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    @abstractmethod
    def _sign_rs256(self, data: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256 of ``data`` (RFC 8017, section 8.2), by the signer."""

    @abstractmethod
    def _fetch_public_key(self) -> rsa.RSAPublicKey:
        """The public half, read from the signer (a set-up permission: ``cert``, ``doctor``)."""

    def describe(self) -> str:
        """Where the key is, for ``doctor``'s report (no secret)."""
        return f"in {self.signer}, signing there"

    @property
    def key_size(self) -> int:
        return self._key_size or MIN_RSA_BITS

    def sign(
        self,
        data: bytes,
        signature_padding: padding.AsymmetricPadding,
        # Any: the accepted types grew across cryptography releases (NoDigestInfo in 45+).
        algorithm: Any,
    ) -> bytes:
        """RS256, computed by the signer. PyJWT and cryptography's builders pass the padding and
        algorithm positionally."""
        if not isinstance(signature_padding, padding.PKCS1v15) or not isinstance(
            algorithm, hashes.SHA256
        ):
            # sf-credproc signs RS256 only (assertions, certificates): anything else is our bug.
            raise InternalError(
                f"{self.name} can only sign with PKCS#1 v1.5 and SHA-256 (RS256)",
                hint="This is a bug in the caller; report it",
            )
        signature = self._sign_rs256(data)
        bits = len(signature) * 8
        # An RSA signature is as long as the modulus (RFC 8017, section 8.2.1): a shorter one
        # comes from a smaller RSA key or from another algorithm (ECDSA, Ed25519) altogether.
        expected = self._public_key.key_size if self._public_key else None
        if bits < MIN_RSA_BITS or (expected is not None and (expected + 7) // 8 != len(signature)):
            raise KeySourceError(
                f"{self.name} returned a {bits}-bit signature, not an RSA signature of "
                f"{MIN_RSA_BITS} bits or more",
                hint=self.key_hint,
            )
        self._key_size = bits
        return signature

    def public_key(self) -> rsa.RSAPublicKey:
        """The public half, fetched once; not RSA, or under 2048 bits, is exit 3."""
        if self._public_key is None:
            public = self._fetch_public_key()
            if not isinstance(public, rsa.RSAPublicKey):
                raise UnsuitableKeyError(f"{self.name} is not an RSA key", hint=self.key_hint)
            if public.key_size < MIN_RSA_BITS:
                raise UnsuitableKeyError(
                    f"{self.name} is a {public.key_size}-bit RSA key; RS256 needs "
                    f"{MIN_RSA_BITS} bits or more",
                    hint=self.key_hint,
                )
            self._public_key = public
            self._key_size = public.key_size
        return self._public_key

    def decrypt(self, ciphertext: bytes, encryption_padding: padding.AsymmetricPadding) -> bytes:
        self._never_leaves("decrypt with")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        self._never_leaves("export")

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        key_format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        self._never_leaves("export")

    def __copy__(self) -> RemoteRsaPrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> RemoteRsaPrivateKey:
        return self

    def _never_leaves(self, what: str) -> NoReturn:
        raise KeySourceError(
            f"cannot {what} {self.name}: the private key never leaves {self.signer}",
            hint=f"Only signing is possible with a key in {self.signer}",
        )
