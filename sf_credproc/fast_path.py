"""The cache-hit fast path: answer a repeated ``get`` from the cache, importing almost nothing.

Resolving settings needs argparse and the TOML parser; a cache hit must cost little more than the
interpreter's own start. So every successful ``get`` records an *index* file keyed by its exact
inputs (the SHA-256 of the arguments, the settings' environment variables and the config file's
identity: device, inode, size, modification and change times; never the inputs themselves, which
may name anything a user typed), together with what it printed, this host's advisory
refresh window and the ``--session-ttl`` (the cache owns that format: ``cache/disk.py``). The
next identical invocation finds the index, checks that the entry it points to still holds the same
token and that it is ``fresh`` by the one rule of ``disk.py``, and prints the recorded output. Any
other state (the advisory window, where a refresh is due), any report of a rejected token
(``--rejected-sha256``) and any ``get`` sent to a running endpoint (``SF_CREDPROC_SERVER_URL``,
``SF_CREDPROC_SERVER_SOCKET``) take the full command.
Anything else (no index, different inputs, an edited config file, a stale or untrustworthy file)
falls through to the full command, which re-resolves everything.

``exec [get options] -- COMMAND`` is answered the same way (``exec_plan``): its index is keyed by
the options before ``--`` only (never the command, whose arguments may hold anything) and holds
the recipe of the command's environment instead of an output (``exec_recipe.py``); the process
then becomes COMMAND through ``os.execve``, no shell, as the full command does. ``--server``,
``--refresh``, ``--no-cache``, ``-v`` and ``--format github`` are never recorded nor answered
here, and a command that cannot be found is left to the full command, which says so (exit 2).

Only ``os``, ``stat``, ``time``, ``zlib`` and CPython's built-in SHA-256 module are imported here
and by the cache modules this uses (and ``exec``, the built-in ``_signal``: ``shell_signals.py``); ``zlib.crc32`` of the digest only names the index file, and the index holds the
whole digest, compared byte for byte.
"""

# No ``from __future__ import annotations`` here (a cache hit would pay for importing it): names
# imported only for type checkers are quoted.
import os
import time
import zlib

# CPython's built-in SHA-256 module, the one hashlib itself falls back to: importing hashlib loads
# OpenSSL's libcrypto first, which costs a cache hit a quarter of its time (about 3.5 ms); this
# module costs 0.5 ms. Renamed in 3.12; any other interpreter takes hashlib's.
try:
    from _sha2 import sha256 as sha256  # type: ignore[import-not-found, unused-ignore]
except ImportError:
    try:
        from _sha256 import sha256 as sha256  # type: ignore[import-not-found, no-redef, unused-ignore]
    except ImportError:
        from hashlib import sha256 as sha256  # type: ignore[assignment, unused-ignore]

from . import __version__
from .cache.disk import INDEX_SUFFIX, indexed_entry, indexed_output
from .paths import config_path, default_cache_dir

# Typing-only imports: collections.abc and typing cost milliseconds on the cache-hit path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import BinaryIO

#: The variables whose values are part of the key: ``config.options.fast_path_environment()``, copied
#: because importing the option spec here would cost more than the cache hit itself (a test keeps the
#: two equal). Secrets (the key passphrase) are deliberately absent: they never decide *which* token,
#: and the index must never hold them.
KEY_ENVIRONMENT = (
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "SF_CREDPROC_CONFIG",
    "SF_CREDPROC_PROFILE",
    "SF_CREDPROC_CLIENT_ID",
    "SF_CREDPROC_USERNAME",
    "SF_CREDPROC_LOGIN_URL",
    "SF_CREDPROC_AUDIENCE",
    "SF_CREDPROC_KEY",
    "SF_CREDPROC_REGION",
    "SF_CREDPROC_AWS_PROFILE",
    "SF_CREDPROC_SESSION_TTL",
    "SF_CREDPROC_TIMEOUT",
    "SF_CREDPROC_CACHE_DIR",
    "SF_CREDPROC_MIN_TTL",
    "SF_CREDPROC_MANDATORY_TTL",
    "SF_CREDPROC_RATE_LIMIT_COOLDOWN",
    "SF_CREDPROC_FORMAT",
    "SF_CREDPROC_TRUSTED_HOSTS",
)


def invocation_key(
    argv: "Sequence[str]", environ: "Mapping[str, str]", version: str = __version__
) -> bytes:
    """The SHA-256 of everything that decides the outcome of a ``get`` invocation.

    The package version comes first: another release may resolve or print the same invocation
    differently, so it never answers from an index an older one wrote.
    """
    parts = [os.fsencode(f"sf-credproc {version}")]
    parts.extend(os.fsencode(arg) for arg in argv)
    parts.append(b"--env--")
    for name in KEY_ENVIRONMENT:
        value = environ.get(name)
        if value:
            parts.append(os.fsencode(f"{name}={value}"))
    path, _ = config_path(environ)
    try:
        info = os.stat(path)
        # The change time too: an edit that restores size and modification time (``touch -r``,
        # a copy with preserved times) still changes it, and the kernel alone sets it.
        config = (
            f"{path}:{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"
            f":{info.st_ctime_ns}"
        )
    except OSError:
        config = f"{path}:absent"
    parts.append(os.fsencode(config))
    digest: bytes = sha256(b"\0".join(parts)).digest()
    return digest


def index_path(key: bytes, environ: "Mapping[str, str]") -> str:
    """Where the index of the invocation ``key`` names lives: the default cache directory (the only
    one the fast path knows without resolving settings), named by the key's CRC-32."""
    name = f"{zlib.crc32(key):08x}{INDEX_SUFFIX}"
    return os.path.join(default_cache_dir(environ), name)


def ca_bundle_missing(environ: "Mapping[str, str]") -> bool:
    """True when the CA bundle variable ``get`` would use names nothing: the full command then
    fails with exit 2 (``settings._ca_bundle``), and the fast path must not answer 0 instead."""
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        path = environ.get(name)
        if path:
            return not os.path.exists(path)
    return False


#: ``get --rejected-sha256`` (or its variable): never answered from an index.
REJECTED_FLAG = "--rejected-sha256"
REJECTED_ENV = "SF_CREDPROC_REJECTED_SHA256"


def reports_rejected_token(argv: "Sequence[str]", environ: "Mapping[str, str]") -> bool:
    """True when the invocation reports a rejected token: it must reach Salesforce's verdict."""
    if environ.get(REJECTED_ENV):
        return True
    # "--rejected-sha256 HEX" or "--rejected-sha256=HEX" (the parser takes no abbreviations).
    return any(arg.startswith(REJECTED_FLAG) for arg in argv)


#: The variables that send ``get`` to a running endpoint (``config.serve_options``, copied for the
#: import cost, as ``KEY_ENVIRONMENT`` is): the endpoint holds the token, not this cache.
SERVER_ENVIRONMENT = ("SF_CREDPROC_SERVER_URL", "SF_CREDPROC_SERVER_SOCKET")


def uses_endpoint(environ: "Mapping[str, str]") -> bool:
    """True when ``get`` asks a running endpoint: the full command does, whatever an index says."""
    return any(environ.get(name) for name in SERVER_ENVIRONMENT)


def cached_output(argv: "Sequence[str]", environ: "Mapping[str, str]", now: float) -> bytes | None:
    """What to print for this exact invocation, or None to run the full command."""
    if not argv or argv[0] != "get":
        return None
    if ca_bundle_missing(environ) or reports_rejected_token(argv, environ):
        return None
    if uses_endpoint(environ):
        return None
    key = invocation_key(argv, environ)
    return indexed_output(index_path(key, environ), key, now)


def record_invocation(
    argv: "Sequence[str]",
    environ: "Mapping[str, str]",
    *,
    entry_path: str,
    entry_header: bytes,
    advisory_seconds: int,
    session_ttl_seconds: int,
    output: bytes,
) -> None:
    """Remember what this exact invocation printed, for the token in ``entry_path``.

    Best effort: the index only saves time, and the full command works without it. Only a
    ``get`` that went through the full command calls this, so loading the file cache is free.
    """
    from .cache.index_writer import write_index

    key = invocation_key(argv, environ)
    write_index(
        index_path(key, environ),
        key,
        entry_path=entry_path,
        entry_header=entry_header,
        advisory_seconds=advisory_seconds,
        session_ttl_seconds=session_ttl_seconds,
        output=output,
    )


#: ``exec`` options that always take the full command (none of them is ever recorded either):
#: ``--server`` runs an endpoint, ``--refresh`` logs in, ``--no-cache`` has no entry, ``-v``
#: reports progress; ``github`` (``--format github``) writes ``$GITHUB_ENV`` in ``get``.
EXEC_FULL_ONLY = frozenset(
    ("--server", "--refresh", "--no-cache", "-v", "--verbose", "github", "--format=github")
)


def exec_plan(
    argv: "Sequence[str]", environ: "Mapping[str, str]", now: float
) -> "tuple[str, list[str], dict[str, str]] | None":
    """What ``exec [get options] -- COMMAND`` would run on this cache hit: the program, its
    arguments and its whole environment; None to run the full command.

    The index is keyed by the options before ``--`` only (``exec`` among them), never by the
    command, whose arguments may hold anything. The program is looked up by ``os.execvpe`` when it
    runs: one that cannot be found or run takes the full command, which says so.
    """
    if argv[:1] != ["exec"] or "--" not in argv:
        return None
    split = list(argv).index("--")
    options, command = list(argv[:split]), list(argv[split + 1 :])
    if not command or any(arg in EXEC_FULL_ONLY for arg in options):
        return None
    if ca_bundle_missing(environ) or reports_rejected_token(options, environ):
        return None
    if uses_endpoint(environ):
        return None
    from .exec_recipe import child_environment

    key = invocation_key(options, environ)
    found = indexed_entry(index_path(key, environ), key, now)
    if found is None:
        return None
    recipe, lines = found
    environment = child_environment(recipe, lines.credential_line, environ)
    return None if environment is None else (command[0], command, environment)


def exec_fast(argv: "Sequence[str]", environ: "Mapping[str, str]") -> None:
    """Become the command of ``exec`` if the fast path can (no shell, as the full command);
    returns only when the full command must run."""
    plan = exec_plan(argv, environ, time.time())
    if plan is not None:
        from .shell_signals import exec_with_shell_signals

        program, command, environment = plan
        # No shell, on purpose (as the full command). execvpe searches the PATH of the command's
        # environment, which is the caller's; a command it cannot run raises OSError, and the
        # full command then says why (exit 2 for one not found, before any login). SIGPIPE and
        # SIGXFSZ at their defaults, as a shell gives them (``shell_signals.py``).
        exec_with_shell_signals(os.execvpe, program, command, environment)


def main_fast(argv: "Sequence[str]", environ: "Mapping[str, str]", stdout: "BinaryIO") -> bool:
    """Print the cached output for this invocation if the fast path can; True if it did."""
    output = cached_output(argv, environ, time.time())
    if output is None:
        return False
    stdout.write(output)
    stdout.flush()
    return True
