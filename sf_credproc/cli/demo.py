"""``sf-credproc demo``: the real ``get`` pipeline against a local emulator, with a throwaway key.

Nothing leaves the machine: the emulator listens on loopback, the key is generated in memory and
handed to ``get`` through an ``env:`` key source, and the user's own settings are set aside.
"""

from __future__ import annotations

import os
from typing import TextIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..emulator.server import SalesforceEmulator

DEMO_CLIENT_ID = "3MVG9demo.sf-credproc.emulated.connected.app"
DEMO_USERNAME = "integration@demo.sf-credproc.example"
DEMO_KEY_ENV = "SF_CREDPROC_DEMO_KEY"


def run_demo(out: TextIO, err: TextIO) -> int:
    """Print a credential obtained from a local emulator; returns ``get``'s exit code."""
    from .main import main

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with SalesforceEmulator() as emulator:
        emulator.register_app(DEMO_CLIENT_ID, public_pem)
        emulator.add_user(DEMO_USERNAME, approve=[DEMO_CLIENT_ID])
        # The user's own SF_CREDPROC_* variables and config file must not steer the demo.
        environ = {k: v for k, v in os.environ.items() if not k.startswith("SF_CREDPROC_")}
        environ["SF_CREDPROC_CONFIG"] = os.devnull
        environ[DEMO_KEY_ENV] = private_pem
        # Not a command to paste: the emulator and the key are gone when the demo returns.
        err.write(
            f"sf-credproc demo: emulated Salesforce at {emulator.url} until the demo ends; a "
            "throwaway RSA-2048 key held in memory only (never written to disk); running get "
            "against them. For an emulator that keeps running: sf-credproc emulator\n"
        )
        err.flush()
        argv = [
            "get",
            "--client-id", DEMO_CLIENT_ID,
            "--username", DEMO_USERNAME,
            "--login-url", emulator.url,
            "--key", f"env:{DEMO_KEY_ENV}",
            "--no-cache",  # the demo never touches the user's token cache
        ]  # fmt: skip
        return main(argv, environ=environ, stdout=out, stderr=err)
