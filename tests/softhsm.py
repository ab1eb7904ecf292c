"""SoftHSM2 for the tests: a private token directory per test worker, tokens and keys made there.

``SOFTHSM2_CONF`` is read by the SoftHSM2 module when it is initialised in a process. Tests that
run the command in this process (``run_cli``) load the module into the test process, and
python-pkcs11 initialises it once per process, so the configuration goes into this worker's
``os.environ`` before anything loads the module (the session fixture ``softhsm``), and into the
environment of every command (in-process or a subprocess: ``softhsm_env``). Every token and key is
made by that session fixture, before the module is loaded, so that no token appears behind an
initialised module's back.

The RSA key is generated inside the token as non-extractable and sensitive: it never exists
outside it. Each PIN is added to ``helpers.SECRETS``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import SECRETS

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
TOKEN = "sf-jwt"
OTHER_TOKEN = "sf-other"
RSA_LABEL = "jwt-signing"
RSA_ID = b"\x01\xa7"
EC_LABEL = "jwt-ec"
TWIN_LABEL = "twin"


@dataclass(frozen=True)
class SoftHsm:
    """The worker's SoftHSM2: its module, config, tokens' PINs and the RSA key's public half."""

    module: str
    conf: str
    pin: str
    other_pin: str
    public_key: rsa.RSAPublicKey

    def uri(self, *attributes: str, token: str = TOKEN, label: str = RSA_LABEL) -> str:
        """``pkcs11:token=...;object=...`` with more attributes (``"id=%01"``, ``"?..."``)."""
        path = [f"token={token}", f"object={label}"]
        query = [a[1:] for a in attributes if a.startswith("?")]
        path += [a for a in attributes if not a.startswith("?")]
        text = "pkcs11:" + ";".join(path)
        return f"{text}?{'&'.join(query)}" if query else text

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def find_module() -> str | None:
    return next((path for path in MODULE_CANDIDATES if os.path.isfile(path)), None)


#: The worker's tokens, made once: each test module that imports the fixture gets a fixture
#: definition of its own, and a second set of tokens would re-point the module this process has
#: loaded (SOFTHSM2_CONF is read when it initialises) away from the first module's PINs.
_WORKER_TOKENS: list[SoftHsm] = []


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    """The worker's tokens: ``sf-jwt`` with an RSA 2048 key, an EC key and two keys sharing one
    label; ``sf-other``, a second token. Skips, saying why, where SoftHSM2 is missing."""
    if not _WORKER_TOKENS:
        _WORKER_TOKENS.append(_make_tokens(tmp_path_factory))
    os.environ["SOFTHSM2_CONF"] = _WORKER_TOKENS[0].conf
    return _WORKER_TOKENS[0]


def _make_tokens(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    module = find_module()
    if module is None or shutil.which("softhsm2-util") is None:
        pytest.skip("SoftHSM2 is not installed (Debian package softhsm2; .ci/run installs it)")
    try:
        import pkcs11
    except ImportError:
        pytest.skip("python-pkcs11 is not installed (pip install -e '.[test]')")
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    pin, other_pin = secrets.token_hex(8), secrets.token_hex(8)
    SECRETS.update({pin, other_pin})
    for label, user_pin in ((TOKEN, pin), (OTHER_TOKEN, other_pin)):
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label,
             "--so-pin", secrets.token_hex(8), "--pin", user_pin],
            check=True, capture_output=True, env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        )  # fmt: skip
    lib = pkcs11.lib(module)
    lib.reinitialize()  # an earlier load in this process would not see the new tokens
    with lib.get_token(token_label=TOKEN).open(rw=True, user_pin=pin) as session:
        public_key = _generate_keys(session, pkcs11)
    return SoftHsm(module, str(conf), pin, other_pin, public_key)


def _generate_keys(session: Any, pkcs11: Any) -> rsa.RSAPublicKey:
    """The keys of the ``sf-jwt`` token, generated inside it; the RSA key's public half."""
    attribute = pkcs11.Attribute
    private = {
        attribute.EXTRACTABLE: False,
        attribute.SENSITIVE: True,
        attribute.SIGN: True,
        attribute.DECRYPT: False,
        attribute.UNWRAP: False,
    }
    public, _ = session.generate_keypair(
        pkcs11.KeyType.RSA, 2048, store=True, label=RSA_LABEL, id=RSA_ID,
        private_template={**private, attribute.PRIVATE: True},
    )  # fmt: skip
    parameters = session.create_domain_parameters(
        pkcs11.KeyType.EC,
        {attribute.EC_PARAMS: pkcs11.util.ec.encode_named_curve_parameters("secp256r1")},
        local=True,
    )
    parameters.generate_keypair(store=True, label=EC_LABEL, id=b"\x02", private_template=private)
    for key_id in (b"\x03", b"\x04"):
        session.generate_keypair(
            pkcs11.KeyType.RSA, 2048, store=True, label=TWIN_LABEL, id=key_id,
            private_template=private,
        )  # fmt: skip
    modulus = int.from_bytes(public[attribute.MODULUS], "big")
    exponent = int.from_bytes(public[attribute.PUBLIC_EXPONENT], "big")
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()


@pytest.fixture
def softhsm_env(softhsm: SoftHsm, env: dict[str, str]) -> dict[str, str]:
    """``env`` with the worker's SoftHSM2 configuration, as a command run anywhere needs it."""
    env["SOFTHSM2_CONF"] = softhsm.conf
    return env
