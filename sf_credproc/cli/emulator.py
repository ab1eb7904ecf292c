"""``sf-credproc emulator``: serve the Salesforce emulator in the foreground until interrupted.

It prints a ``get`` command that runs as printed (its arguments shell-quoted), and how to stop it.
A throwaway key it generated lives in a private temporary directory that is removed when it stops:
Ctrl-C, SIGTERM or SIGHUP (the terminal closed).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import ssl
import tempfile
from typing import Any

from ..emulator.server import SalesforceEmulator
from ..errors import ConfigError, ExitStatus
from .context import CommandContext


def write_throwaway_key(directory: str) -> tuple[str, bytes]:
    """A throwaway RSA key in a private file in ``directory``, and its public key PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
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
        ) from error


def _instructions(url: str, args: argparse.Namespace, key_uri: str | None) -> str:
    """What to paste: a ``get`` command that runs as printed, and how to stop the emulator."""
    command = ["sf-credproc", "get", "--login-url", url, "--client-id", args.client_id]
    command += ["--username", args.username]
    if key_uri:
        command += ["--key", key_uri]
        key_line = f"key: {key_uri}\n"
        stop = "stop: press Ctrl-C (or send SIGTERM); the throwaway key is then deleted\n"
    else:
        # The emulator never sees the private key of --cert: get takes it from the user's
        # own settings (SF_CREDPROC_KEY, or key in the config profile).
        key_line = (
            f"key: the private key of {args.cert}: set SF_CREDPROC_KEY to its key URI, "
            "or add --key URI to the command below\n"
        )
        stop = "stop: press Ctrl-C (or send SIGTERM)\n"
    prefix = ""
    if args.tls_cert:
        # get verifies TLS always: trust the emulator's own certificate for this one command.
        prefix = f"REQUESTS_CA_BUNDLE={shlex.quote(os.path.abspath(args.tls_cert))} "
    return (
        f"url: {url}\nclient_id: {args.client_id}\nusername: {args.username}\n{key_line}"
        f"try: {prefix}{shlex.join(command)}\n{stop}"
    )


def _stop_on_hangup(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    """Serve until Ctrl-C, SIGTERM or SIGHUP; prints the URL, the client id, the user and a ``get``
    command to paste. A throwaway key is deleted on the way out, however the emulator stops."""
    key_directory = None
    previous_sighup = signal.signal(signal.SIGHUP, _stop_on_hangup)
    try:
        if not args.cert:
            key_directory = tempfile.mkdtemp(prefix="sf-credproc-emulator-")  # 0700
        return _serve(args, context, key_directory)
    finally:
        signal.signal(signal.SIGHUP, previous_sighup)
        if key_directory is not None:
            shutil.rmtree(key_directory, ignore_errors=True)


def _serve(
    args: argparse.Namespace, context: CommandContext, key_directory: str | None
) -> ExitStatus:
    tls = None
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together", hint="Pass both, or neither")
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            tls.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(
                f"cannot load --tls-cert/--tls-key ({error})", hint="Check both files"
            ) from error
    key_uri = None
    if key_directory is None:
        certificate = _read(args.cert, "--cert")
    else:
        key_path, certificate = write_throwaway_key(key_directory)
        key_uri = f"file:{key_path}"
    try:
        emulator = SalesforceEmulator(host=args.host, port=args.port, ssl_context=tls)
    except OSError as error:
        raise ConfigError(
            f"cannot listen on {args.host}:{args.port} ({error.strerror})",
            hint="Choose another --port",
        ) from error
    try:
        emulator.register_app(args.client_id, certificate)
    except ValueError as error:
        raise ConfigError(
            f"--cert {args.cert}: {error}", hint="Give a PEM certificate of an RSA key"
        ) from error
    emulator.add_user(args.username, approve=[args.client_id])
    context.stdout.write(_instructions(emulator.url, args, key_uri))
    context.stdout.flush()
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        context.log.say("emulator", "stopped", speaker="sf-credproc emulator")
    return ExitStatus.OK
