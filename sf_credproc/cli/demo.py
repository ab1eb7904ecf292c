"""``sf-credproc demo``: the real ``get`` pipeline against a local emulator, with a throwaway key.

Nothing leaves the machine: the emulator listens on loopback, the key is generated in memory and
handed to ``get`` through an ``env:`` key source, and the user's own settings are set aside.

``demo`` serves plain http by default (nothing written to disk at all). ``demo --https`` serves
https with a certificate from a throwaway CA (``emulator/throwaway_tls.py``) and lets ``get``
verify it as it verifies Salesforce, trusting only that CA (``REQUESTS_CA_BUNDLE``): the CA
certificate lives in a private temporary directory, removed when the demo returns, so the path
it prints is for the record, not for later use (``sf-credproc emulator --https`` keeps running).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..emulator.server import SalesforceEmulator
from ..emulator.throwaway_tls import ThrowawayTls, make_throwaway_tls
from ..errors import ExitStatus
from . import get_command
from .context import CommandContext
from .parser import build_parser

DEMO_CLIENT_ID = "3MVG9demo.sf-credproc.emulated.connected.app"
DEMO_USERNAME = "integration@demo.sf-credproc.example"
DEMO_KEY_ENV = "SF_CREDPROC_DEMO_KEY"


@contextlib.contextmanager
def _throwaway_tls(https: bool) -> Iterator[ThrowawayTls | None]:
    """With ``https``, a throwaway CA's certificate in a private directory (0700) for the demo's
    length; else nothing."""
    if not https:
        yield None
        return
    directory = tempfile.mkdtemp(prefix="sf-credproc-demo-")
    try:
        yield make_throwaway_tls(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    """Print a credential obtained from a local emulator, through the ``get`` command itself."""
    with _throwaway_tls(args.https) as tls:
        return _run(context, tls)


def _run(context: CommandContext, tls: ThrowawayTls | None) -> ExitStatus:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with SalesforceEmulator(ssl_context=tls.context if tls else None) as emulator:
        emulator.register_app(DEMO_CLIENT_ID, public_pem)
        emulator.add_user(DEMO_USERNAME, approve=[DEMO_CLIENT_ID])
        # The user's own SF_CREDPROC_* variables and config file must not steer the demo.
        environ = {
            name: value
            for name, value in context.environ.items()
            if not name.startswith("SF_CREDPROC_")
        }
        environ["SF_CREDPROC_CONFIG"] = os.devnull
        # ... but get's lines keep the log format of the command the user typed.
        environ["SF_CREDPROC_LOG_FORMAT"] = "json" if context.log.json_format else "text"
        environ[DEMO_KEY_ENV] = private_pem
        served = ""
        if tls is not None:
            # get trusts the throwaway CA alone, as it would trust Salesforce's.
            environ["REQUESTS_CA_BUNDLE"] = tls.ca_path
            served = f" over https with a certificate from a throwaway CA at {tls.ca_path}"
        # Not a command to paste: the emulator and the key are gone when the demo returns.
        context.log.say(
            "demo",
            f"emulated Salesforce at {emulator.url}{served} until the demo ends; a throwaway "
            "RSA-2048 key held in memory only (never written to disk); running get against them. "
            f"For an emulator that keeps running: sf-credproc emulator{' --https' if tls else ''}",
            speaker="sf-credproc demo",
            url=emulator.url,
        )
        argv = [
            "get",
            "--client-id", DEMO_CLIENT_ID,
            "--username", DEMO_USERNAME,
            "--login-url", emulator.url,
            "--key", f"env:{DEMO_KEY_ENV}",
            "--no-cache",  # the demo never touches the user's token cache
        ]  # fmt: skip
        get_args = build_parser().parse_args(argv)
        return get_command.run(
            get_args, dataclasses.replace(context, environ=environ, argv=tuple(argv))
        )
