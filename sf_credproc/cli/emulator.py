"""``sf-credproc emulator``: serve the Salesforce emulator in the foreground until interrupted.

It prints a ``get`` command that runs as printed (its arguments shell-quoted), and how to stop it.
A throwaway key it generated, and with ``--https`` the certificate of a throwaway CA
(``emulator/throwaway_tls.py``), live in a private temporary directory that is removed when it
stops: Ctrl-C, SIGTERM or SIGHUP (the terminal closed).

With ``--https`` it prints what to export so that clients trust that CA: ``REQUESTS_CA_BUNDLE``
(requests, so simple-salesforce and sf-credproc itself: requests' "SSL Cert Verification"),
``CURL_CA_BUNDLE`` (the curl tool reads it before ``SSL_CERT_FILE``: curl's "SSL certificate
verification", https://curl.se/docs/sslcerts.html), ``SSL_CERT_FILE`` (OpenSSL's default file:
Python's ``ssl`` and ``urllib``) and ``NODE_EXTRA_CA_CERTS`` (Node adds it to its own roots, read
at start: https://nodejs.org/api/cli.html#node_extra_ca_certsfile; the Salesforce CLI, jsforce).
The first three replace the system's CAs for those clients, so the line is for the shell the
emulator is tried from.
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
from ..emulator.throwaway_tls import make_throwaway_tls
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


#: What reads a CA bundle from which variable (see the module docstring).
TRUST_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS")


def trust_lines(ca_path: str) -> str:
    """The ``ca:`` and ``trust:`` lines: the CA's path, and the ``export`` line to paste."""
    quoted = shlex.quote(ca_path)
    exports = " ".join(f"{name}={quoted}" for name in TRUST_VARIABLES)
    return f"ca: {ca_path} (a throwaway CA, deleted when the emulator stops)\ntrust: export {exports}\n"


def _instructions(
    url: str, args: argparse.Namespace, key_uri: str | None, ca_path: str | None
) -> str:
    """What to paste: a ``get`` command that runs as printed, and how to stop the emulator."""
    command = ["sf-credproc", "get", "--login-url", url, "--client-id", args.client_id]
    command += ["--username", args.username]
    stop = "stop: press Ctrl-C (or send SIGTERM)"
    throwaways = [what for what, made in (("key", key_uri), ("CA", ca_path)) if made]
    if throwaways:
        verb = "are" if len(throwaways) > 1 else "is"
        stop += f"; the throwaway {' and '.join(throwaways)} {verb} then deleted"
    if key_uri:
        command += ["--key", key_uri]
        key_line = f"key: {key_uri}\n"
    else:
        # The emulator never sees the private key of --cert: get takes it from the user's
        # own settings (SF_CREDPROC_KEY, or key in the config profile).
        key_line = (
            f"key: the private key of {args.cert}: set SF_CREDPROC_KEY to its key URI, "
            "or add --key URI to the command below\n"
        )
    prefix = trust = ""
    if args.tls_cert:
        # get verifies TLS always: trust the emulator's own certificate for this one command.
        prefix = f"REQUESTS_CA_BUNDLE={shlex.quote(os.path.abspath(args.tls_cert))} "
    if ca_path:
        prefix = f"REQUESTS_CA_BUNDLE={shlex.quote(ca_path)} "
        trust = trust_lines(ca_path)
    return (
        f"url: {url}\nclient_id: {args.client_id}\nusername: {args.username}\n{key_line}"
        f"{trust}try: {prefix}{shlex.join(command)}\n{stop}\n"
    )


def _stop_on_hangup(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    """Serve until Ctrl-C, SIGTERM or SIGHUP; prints the URL, the client id, the user and a ``get``
    command to paste. A throwaway key and CA are deleted on the way out, however it stops."""
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together", hint="Pass both, or neither")
    if args.https and args.tls_cert:
        raise ConfigError(
            "--https makes its own certificate; --tls-cert and --tls-key bring yours",
            hint="Pass --https, or --tls-cert and --tls-key, not both",
        )
    directory = None
    previous_sighup = signal.signal(signal.SIGHUP, _stop_on_hangup)
    try:
        if not args.cert or args.https:
            directory = tempfile.mkdtemp(prefix="sf-credproc-emulator-")  # 0700
        return _serve(args, context, directory)
    finally:
        signal.signal(signal.SIGHUP, previous_sighup)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def _serve(args: argparse.Namespace, context: CommandContext, directory: str | None) -> ExitStatus:
    tls = None
    ca_path = None
    if args.https:
        assert directory is not None
        throwaway = make_throwaway_tls(directory, args.host)
        tls, ca_path = throwaway.context, throwaway.ca_path
    elif args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            tls.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(
                f"cannot load --tls-cert/--tls-key ({error})", hint="Check both files"
            ) from error
    key_uri = None
    if args.cert:
        certificate = _read(args.cert, "--cert")
    else:
        assert directory is not None
        key_path, certificate = write_throwaway_key(directory)
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
    context.stdout.write(_instructions(emulator.url, args, key_uri, ca_path))
    context.stdout.flush()
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        context.log.say("emulator", "stopped", speaker="sf-credproc emulator")
    return ExitStatus.OK
