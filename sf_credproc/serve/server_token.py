"""The server token: the value clients send as ``Authorization`` (README, "The server token").

In this order: ``SF_CREDPROC_SERVER_TOKEN``; else the file ``--server-token-file`` /
``SF_CREDPROC_SERVER_TOKEN_FILE`` names (a regular file that neither group nor others may read or
write, at most ``MAX_TOKEN_BYTES``, surrounding whitespace stripped: systemd's ``LoadCredential=``
gives such a file; a Kubernetes Secret volume of a non-root pod is group-readable, and is passed as
a variable instead); else a new one from ``secrets.token_urlsafe(32)``
(256 bits), written 0600 to ``$XDG_RUNTIME_DIR/sf-credproc/server-token`` (a directory of this
user's session, cleared at logout) or, without ``XDG_RUNTIME_DIR``, to
``$XDG_CACHE_HOME/sf-credproc/server-token`` (``~/.cache``), the directory 0700. A generated token
is new at every start: a client reads the file when it starts.

The token is a capability: never logged, never on a command line, never in a file name.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..config.serve_options import SERVER_TOKEN_ENV, SERVER_TOKEN_FILE_ENV
from ..errors import ConfigError
from ..local_files import FileTooLargeError, NotRegularFileError, read_regular_file

MAX_TOKEN_BYTES = 4096
TOKEN_FILE_NAME = "server-token"
#: Bytes a token may hold: visible ASCII, so that it travels unchanged in an HTTP field
#: (RFC 9110 section 5.5) and in an environment variable.
_VISIBLE = frozenset(range(0x21, 0x7F))


@dataclass(frozen=True)
class ServerToken:
    """The token, and where a generated one was written (None: it came from the user)."""

    value: str = field(repr=False)
    generated_path: str | None = None


def new_token() -> str:
    """A fresh random token (``exec --server``, and ``serve`` without one given)."""
    return secrets.token_urlsafe(32)


def resolve_server_token(environ: Mapping[str, str], token_file: str | None) -> ServerToken:
    """The server token by the order above; ``token_file`` is ``--server-token-file``."""
    given = environ.get(SERVER_TOKEN_ENV)
    if given:
        return ServerToken(_checked(given.strip(), f"${SERVER_TOKEN_ENV}"))
    path = token_file or environ.get(SERVER_TOKEN_FILE_ENV)
    if path:
        return ServerToken(read_token_file(os.path.expanduser(path)))
    token = new_token()
    return ServerToken(token, write_generated_token(environ, token))


def read_token_file(path: str) -> str:
    """The token in ``path``: a regular file no one else may read or write, stripped."""
    try:
        info = os.stat(path)
        if stat.S_ISREG(info.st_mode) and info.st_mode & 0o066:
            raise ConfigError(
                f"server token file {path} may be read or written by group or others",
                hint=f"Run chmod 600 {path}",
            )
        data = read_regular_file(path, MAX_TOKEN_BYTES)
    except (NotRegularFileError, FileTooLargeError) as error:
        raise ConfigError(
            f"server token file {path} {error}",
            hint="Name a file holding only the token",
        ) from error
    except OSError as error:
        raise ConfigError(
            f"cannot read server token file {path} ({error.strerror})",
            hint="Check --server-token-file or $" + SERVER_TOKEN_FILE_ENV,
        ) from error
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        text = "\x00"
    return _checked(text, f"server token file {path}")


def _checked(token: str, origin: str) -> str:
    if not token:
        raise ConfigError(f"{origin} is empty", hint="Give a token of at least 32 characters")
    if not all(ord(char) in _VISIBLE for char in token):
        raise ConfigError(
            f"{origin} holds characters other than visible ASCII",
            hint="Use a token of letters, digits and punctuation, e.g. from secrets.token_urlsafe",
        )
    return token


def token_directory(environ: Mapping[str, str]) -> str:
    """Where a generated token goes: ``$XDG_RUNTIME_DIR/sf-credproc``, else
    ``$XDG_CACHE_HOME/sf-credproc`` (default ``~/.cache/sf-credproc``)."""
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "sf-credproc")
    home = environ.get("HOME") or os.path.expanduser("~")
    cache = environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return os.path.join(cache, "sf-credproc")


def write_generated_token(environ: Mapping[str, str], token: str) -> str:
    """Write ``token`` 0600 into ``token_directory`` (0700, ours, not a link); returns the path."""
    from ..cache.disk import write_private_file

    directory = token_directory(environ)
    ensure_own_directory(directory)
    try:
        # mkstemp (O_EXCL, 0600) then rename: never written through a link planted at the name.
        return write_private_file(directory, TOKEN_FILE_NAME, token.encode("ascii") + b"\n")
    except OSError as error:
        raise ConfigError(
            f"cannot write the server token into {directory} ({error.strerror})",
            hint=f"Set ${SERVER_TOKEN_ENV} or --server-token-file instead",
        ) from error


def ensure_own_directory(directory: str) -> None:
    """``directory`` as a 0700 directory of this user (created so; an existing one that is a
    link, another user's, or open to others is refused)."""
    try:
        os.makedirs(os.path.dirname(directory), mode=0o700, exist_ok=True)
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except OSError as error:
        raise ConfigError(
            f"cannot create {directory} ({error.strerror})",
            hint=f"Set ${SERVER_TOKEN_ENV} or --server-token-file instead",
        ) from error
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise ConfigError(
            f"{directory} is not a directory of this user closed to others",
            hint=f"Run chmod 700 {directory} (or remove what is there)",
        )
