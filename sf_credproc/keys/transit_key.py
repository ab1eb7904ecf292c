"""An RSA private key in Vault (or OpenBao) Transit: Transit signs; the key never leaves it.

Vault API, "Transit secrets engine": ``POST /v1/:mount/sign/:name/:hash_algorithm`` with
``hash_algorithm`` ``sha2-256`` (Transit hashes the input), ``input`` (standard base64) and
``signature_algorithm=pkcs1v15``: Transit's default for RSA keys is PSS, which Salesforce's RS256
does not accept. The answer's ``data.signature`` is ``vault:vN:<standard base64>``. ``cert`` and
``doctor`` read the public key with ``GET /v1/:mount/keys/:name`` (its ``type`` and, per version,
``public_key``). At run time the token needs ``update`` on the sign path alone.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import CredProcError, KeySourceError
from ..oauth.oauth_errors import untrusted_line
from .remote_key import RemoteRsaPrivateKey
from .vault_client import VaultClient
from .vault_errors import VaultCall

#: The Transit key types that sign RS256 (Transit's rsa-2048, rsa-3072, rsa-4096).
RSA_KEY_TYPES = frozenset({"rsa-2048", "rsa-3072", "rsa-4096"})
#: ``vault:v<version>:<standard base64>`` (Transit's signature format).
_SIGNATURE = re.compile(r"vault:v([1-9][0-9]{0,9}):([A-Za-z0-9+/]+={0,2})\Z")


class TransitRsaPrivateKey(RemoteRsaPrivateKey):
    """An ``RSAPrivateKey`` whose private half stays in Transit (``mount``/``name``), signing
    with version ``version`` when pinned, else with the latest."""

    key_hint = (
        "Use a Transit key of type rsa-2048, rsa-3072 or rsa-4096 "
        "(vault write -f transit/keys/NAME type=rsa-2048)"
    )

    def __init__(self, mount: str, name: str, version: int | None, client: VaultClient) -> None:
        pinned = f"#{version}" if version else ""
        super().__init__(f"transit:{mount}/{name}{pinned}", "Vault Transit")
        self.mount = mount
        self.key_name = name
        self.version = version
        self._client = client
        #: What Vault said: the version of the last signature, the key's type and latest version.
        self._signed_version: int | None = None
        self._type: str | None = None
        self._latest: int | None = None

    def __repr__(self) -> str:
        return f"TransitRsaPrivateKey({self.name!r})"

    def _sign_rs256(self, data: bytes) -> bytes:
        call = VaultCall(
            "POST",
            f"{self.mount}/sign/{self.key_name}/sha2-256",
            "update",
            f"Transit key {self.mount}/{self.key_name}",
        )
        body: dict[str, object] = {
            "input": base64.b64encode(data).decode("ascii"),
            "signature_algorithm": "pkcs1v15",
        }
        if self.version is not None:
            body["key_version"] = self.version
        answer = self._client.call(call, body, self._explain_sign)
        return self._signature(answer.get("signature"))

    def _signature(self, value: Any) -> bytes:
        """The signature's bytes from Transit's ``vault:vN:<base64>``."""
        match = _SIGNATURE.match(value) if isinstance(value, str) else None
        if match is None:
            raise KeySourceError(
                f"{self.name}: Transit's answer holds no signature of the form vault:vN:BASE64",
                hint="Check that the mount is a Transit mount of Vault or OpenBao",
            )
        version = int(match.group(1))
        if self.version is not None and version != self.version:
            raise KeySourceError(
                f"{self.name}: Transit signed with version {version}, not the pinned {self.version}",
                hint="Check the Transit mount; pin a version that exists",
            )
        self._signed_version = version
        try:
            return base64.b64decode(match.group(2), validate=True)
        except (binascii.Error, ValueError):
            raise KeySourceError(
                f"{self.name}: Transit's signature is not valid base64", hint=self.key_hint
            ) from None

    def _explain_sign(self, status: int, said: str, document: Any) -> CredProcError | None:
        """Transit's refusals that the status alone does not tell (checked against OpenBao 2)."""
        text = said.lower()
        if status == 404:
            # "no handler for route": no mount of that name (in this namespace).
            return KeySourceError(
                f"Vault has no mount {self.mount} (POST /v1/{self.mount}/sign/... answered "
                "HTTP 404)",
                hint=f"Enable Transit there (vault secrets enable -path={self.mount} transit), "
                "or fix the key URI's mount, or VAULT_NAMESPACE",
            )
        if "not found" in text or ("key" in text and "does not exist" in text):
            # 400 "signing key not found".
            return KeySourceError(
                f"Vault Transit has no key {self.key_name} in the mount {self.mount}",
                hint=f"Create it (vault write -f {self.mount}/keys/{self.key_name} "
                "type=rsa-2048), or fix the key URI's mount and name",
            )
        if "does not support" in text or "signature algorithm" in text:
            # 400 "key type aes256-gcm96 does not support signing" and kin.
            return KeySourceError(
                f"{self.name} is not an RSA key: Transit cannot sign RS256 with it ({said})",
                hint=self.key_hint,
            )
        if "requested version" in text or "key version" in text:
            # 500 "requested version for signing is higher than the latest key version" / "less
            # than the minimum encryption key version": the pinned version is not usable.
            return KeySourceError(
                f"{self.name}: Transit cannot sign with version {self.version} ({said})",
                hint="Pin a version between the key's min_encryption_version and its latest "
                f"(vault read {self.mount}/keys/{self.key_name}), or drop the #VERSION",
            )
        return None

    def _fetch_public_key(self) -> rsa.RSAPublicKey:
        """``GET /v1/:mount/keys/:name``: the type checked, the pinned (else latest) version's
        public key (a set-up permission: ``read``)."""
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        call = VaultCall(
            "GET",
            f"{self.mount}/keys/{self.key_name}",
            "read",
            f"Transit key {self.mount}/{self.key_name}",
        )
        data = self._client.call(call, explain=self._explain_read)
        key_type = data.get("type")
        if key_type not in RSA_KEY_TYPES:
            shown = untrusted_line(str(key_type), limit=40)
            raise KeySourceError(
                f"{self.name} is a Transit key of type {shown}, not rsa-2048, rsa-3072 or rsa-4096",
                hint=self.key_hint,
            )
        latest = data.get("latest_version")
        self._type, self._latest = str(key_type), latest if isinstance(latest, int) else None
        version = self.version or self._latest
        keys = data.get("keys")
        entry = keys.get(str(version)) if isinstance(keys, dict) else None
        pem = entry.get("public_key") if isinstance(entry, dict) else None
        if not isinstance(pem, str) or not pem.startswith("-----BEGIN"):
            raise KeySourceError(
                f"{self.name}: Transit has no public key for version {version} (it does not "
                f"exist or was trimmed; the latest is {self._latest})",
                hint="Pin an existing version, or drop the #VERSION",
            )
        minimum = data.get("min_encryption_version")
        if self.version is not None and isinstance(minimum, int) and self.version < minimum:
            raise KeySourceError(
                f"{self.name}: version {self.version} is below the key's min_encryption_version "
                f"({minimum}), so Transit will not sign with it",
                hint=f"Pin version {minimum} or later, or lower min_encryption_version",
            )
        try:
            public = load_pem_public_key(pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise KeySourceError(
                f"{self.name}: Transit's public key is not a readable PEM", hint=self.key_hint
            ) from None
        if not isinstance(public, rsa.RSAPublicKey):
            raise KeySourceError(f"{self.name} is not an RSA key", hint=self.key_hint)
        return public

    def _explain_read(self, status: int, said: str, document: Any) -> CredProcError | None:
        if status == 404:
            return KeySourceError(
                f"Vault Transit has no key {self.key_name} in the mount {self.mount} (or no such "
                "mount)",
                hint=f"Create it (vault write -f {self.mount}/keys/{self.key_name} "
                "type=rsa-2048), or fix the key URI's mount and name, or VAULT_NAMESPACE",
            )
        return None

    def describe(self) -> str:
        """Where the key is and which version signs (doctor shows why a rotated key no longer
        matches the connected app's certificate)."""
        where = f"in Vault Transit at {self._client.address.shown()}"
        details = [f"{self.mount}/{self.key_name}"]
        if self._type:
            details.append(self._type)
        if self.version is not None:
            pinned = f"version {self.version} pinned"
            details.append(f"{pinned}; latest {self._latest}" if self._latest else pinned)
        elif self._latest is not None:
            details.append(f"latest version {self._latest}")
        elif self._signed_version is not None:
            details.append(f"signing with version {self._signed_version}, the latest")
        else:
            details.append("the latest version")
        return f"{where} ({', '.join(details)})"
