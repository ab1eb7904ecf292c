"""Where the endpoint listens: ``--listen HOST:PORT`` (TCP) or ``--socket PATH`` (a Unix socket).

Loopback only, unless ``--tls-cert`` and ``--tls-key`` are both given: every local user can reach
a loopback port, but nobody else; a non-loopback address (``0.0.0.0`` and ``::`` included) would
send the token in clear over a network. With TLS (TLS 1.2 at least, ``ssl.create_default_context``
for servers) the certificate's subject alternative names become acceptable ``Host`` values.

A Unix socket is created with umask 077 in effect, so it is never reachable by others, not even
for the instant between ``bind`` and a ``chmod``. An existing path is unlinked only when it is our
own socket that nobody answers on (a stale one, left by a killed server); a regular file, a
directory, a symbolic link, another user's socket or a live socket is refused, naming the path.
The socket is removed at exit, if it is still the one we bound.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import ssl
import stat
from dataclasses import dataclass

from ..errors import ConfigError
from ..local_files import describe_file_type

#: Names that mean loopback without being an address.
LOCALHOST = "localhost"


@dataclass(frozen=True)
class TcpAddress:
    """A parsed ``--listen``: the host as written (brackets removed) and the port (0: any)."""

    host: str
    port: int


def parse_listen(text: str) -> TcpAddress:
    """``HOST:PORT`` or ``[IPv6]:PORT``."""
    host, colon, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not _is_ip(host) or ipaddress.ip_address(host).version != 6:
            host = ""
    elif ":" in host:
        host = ""  # an IPv6 address must be bracketed: [::1]:8080
    if not colon or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(
            f"--listen {text!r} is not HOST:PORT",
            hint="Use e.g. --listen 127.0.0.1:8080, --listen [::1]:8080 (port 0: any free port)",
        )
    return TcpAddress(host, int(port_text))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); never a wildcard."""
    if host.lower() == LOCALHOST:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_tls_flags(tls_cert: str | None, tls_key: str | None) -> None:
    if bool(tls_cert) != bool(tls_key):
        raise ConfigError(
            "--tls-cert and --tls-key go together",
            hint="Give both (the certificate chain and its private key, PEM), or neither",
        )


def check_exposure(address: TcpAddress, tls: bool) -> None:
    """Refuse a non-loopback address without TLS: the token would cross a network in clear."""
    if not tls and not is_loopback(address.host):
        raise ConfigError(
            f"--listen {address.host} is not a loopback address, and no TLS is configured",
            hint="Listen on 127.0.0.1 or [::1], or give --tls-cert and --tls-key to serve https",
        )


def tls_context(cert_path: str, key_path: str) -> tuple[ssl.SSLContext, tuple[str, ...]]:
    """A server context (TLS 1.2+) with the certificate, and the certificate's DNS names and IP
    addresses (its subject alternative names)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_path, key_path)
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or "unusable"
        raise ConfigError(
            f"cannot load --tls-cert {cert_path} with --tls-key {key_path} ({reason})",
            hint="Give a PEM certificate chain and the PEM private key that matches it",
        ) from error
    return context, certificate_names(cert_path)


def certificate_names(cert_path: str) -> tuple[str, ...]:
    """The DNS names and IP addresses of the first certificate's subject alternative names."""
    from cryptography import x509

    with open(cert_path, "rb") as handle:
        certificate = x509.load_pem_x509_certificates(handle.read())[0]
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    dns = [name.lower() for name in names.get_values_for_type(x509.DNSName)]
    addresses = [str(address) for address in names.get_values_for_type(x509.IPAddress)]
    return (*dns, *addresses)


def bind_tcp(address: TcpAddress) -> socket.socket:
    """A listening TCP socket on ``address`` (``localhost``: 127.0.0.1)."""
    host = "127.0.0.1" if address.host.lower() == LOCALHOST else address.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, address.port), family=family, backlog=1024)
    except OSError as error:
        raise ConfigError(
            f"cannot listen on {format_host(host)}:{address.port} ({error.strerror or error})",
            hint="Choose another --listen address or port (port 0: any free port)",
        ) from error


def format_host(host: str) -> str:
    """``host`` as it appears in a URL or a Host field (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def allowed_hosts(
    bound_host: str, port: int, names: tuple[str, ...], *, tls: bool
) -> frozenset[str]:
    """The ``Host`` values (lower case) that name this server: ``localhost``, the loopback address
    of the family bound (both for a wildcard), the address bound, the certificate's names; each
    with ``:port``, and without it when the port is the scheme's default (RFC 9110 section 7.2)."""
    hosts = {LOCALHOST, bound_host.lower(), *names}
    if ":" in bound_host:
        hosts.add("::1")
    else:
        hosts.add("127.0.0.1")
    if bound_host in ("0.0.0.0", "::"):  # noqa: S104 - a wildcard bound with TLS
        hosts.discard(bound_host)
        hosts.update(("127.0.0.1", "::1"))
    default_port = 443 if tls else 80
    allowed = set()
    for host in hosts:
        shown = format_host(host)
        allowed.add(f"{shown}:{port}")
        if port == default_port:
            allowed.add(shown)
    return frozenset(allowed)


@dataclass(frozen=True)
class UnixListener:
    """A bound Unix socket, and the identity of the file it made (removed at exit if unchanged)."""

    sock: socket.socket
    path: str
    device: int
    inode: int


def bind_unix(path: str) -> UnixListener:
    """A listening Unix socket at ``path`` (absolute), never reachable by others."""
    path = os.path.abspath(os.path.expanduser(path))
    _clear_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o077)  # the socket file is born 0600 (0700 minus the umask)
    try:
        sock.bind(path)
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"cannot create the socket {path} ({error.strerror or error})",
            hint="Choose another --socket path in a directory of yours",
        ) from error
    finally:
        os.umask(previous)
    info = os.lstat(path)
    sock.listen(1024)
    return UnixListener(sock, path, info.st_dev, info.st_ino)


def _clear_stale(path: str) -> None:
    """Unlink ``path`` only when it is a socket of ours that nobody answers on."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise ConfigError(
            f"cannot inspect --socket {path} ({error.strerror})", hint="Choose another path"
        ) from error
    if not stat.S_ISSOCK(info.st_mode):
        raise ConfigError(
            f"--socket {path} exists and is {describe_file_type(info.st_mode)}",
            hint="Choose another path; it is never removed",
        )
    if info.st_uid != os.geteuid():
        raise ConfigError(f"--socket {path} is another user's socket", hint="Choose another path")
    if _answers(path):
        raise ConfigError(
            f"--socket {path} is in use by a running server",
            hint="Stop that server, or choose another path",
        )
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _answers(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError as error:
        # ECONNREFUSED: a socket file nobody listens on (its server died): stale.
        return error.errno not in (errno.ECONNREFUSED, errno.ENOENT)
    finally:
        probe.close()
    return True


def remove_unix(listener: UnixListener) -> None:
    """Remove the socket file, if the path still names the socket we bound."""
    with contextlib.suppress(OSError):
        info = os.lstat(listener.path)
        ours = (info.st_dev, info.st_ino) == (listener.device, listener.inode)
        if ours and stat.S_ISSOCK(info.st_mode):
            os.unlink(listener.path)
