"""``sf-credproc emulator``: serve the Salesforce emulator in the foreground until interrupted."""

from __future__ import annotations

import argparse
import os
import ssl
import tempfile
from typing import TextIO

from .emulator import SalesforceEmulator
from .errors import ConfigError, ExitStatus


def _new_key_pair() -> tuple[str, bytes]:
    """A throwaway RSA key in a private temporary file, and its public key PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    directory = tempfile.mkdtemp(prefix="sf-credproc-emulator-")
    path = os.path.join(directory, "connected-app-key.pem")
    # O_EXCL and 0600 from the start: no moment where another user could read the key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise ConfigError(
            f"{what} {path} cannot be read ({error.strerror})", hint="Check the path"
        ) from None


def run_emulator(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Serve until Ctrl-C; prints the URL, the client id, the user and how to call ``get``."""
    context = None
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together", hint="Pass both, or neither")
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(
                f"cannot load --tls-cert/--tls-key ({error})", hint="Check both files"
            ) from None
    key_hint = "your key"
    if args.cert:
        certificate = _read(args.cert, "--cert")
    else:
        key_path, certificate = _new_key_pair()
        key_hint = f"file:{key_path}"
    try:
        emulator = SalesforceEmulator(host=args.host, port=args.port, ssl_context=context)
    except OSError as error:
        raise ConfigError(
            f"cannot listen on {args.host}:{args.port} ({error.strerror})",
            hint="Choose another --port",
        ) from None
    try:
        emulator.register_app(args.client_id, certificate)
    except ValueError as error:
        raise ConfigError(
            f"--cert {args.cert}: {error}", hint="Give a PEM certificate of an RSA key"
        ) from None
    emulator.add_user(args.username, approve=[args.client_id])
    out.write(
        f"url: {emulator.url}\nclient_id: {args.client_id}\nusername: {args.username}\n"
        f"key: {key_hint}\n"
        f"try: sf-credproc get --login-url {emulator.url} --client-id {args.client_id} "
        f"--username {args.username} --key {key_hint}\n"
    )
    out.flush()
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        err.write("sf-credproc emulator: stopped\n")
    return ExitStatus.OK
