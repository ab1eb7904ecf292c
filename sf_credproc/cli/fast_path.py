"""The cache-hit fast path: answer a repeated ``get`` from the cache, importing almost nothing.

Resolving settings needs argparse and the TOML parser; a cache hit must cost little more than the
interpreter's own start. So every successful ``get`` records an *index* file keyed by its exact
inputs: the arguments, the settings' environment variables and the config file's identity (device,
inode, size, modification and change times), together with what it printed and the resolved
``--min-ttl`` and ``--session-ttl``. The next identical invocation finds the index, checks that the
entry it points to still holds the same token and that it is fresh by the one rule of
``freshness.py``, and prints the recorded output.
Anything else (no index, different inputs, an edited config file, a stale or untrustworthy file)
falls through to the full command, which re-resolves everything.

Only ``os``, ``stat``, ``time`` and ``zlib`` are imported here; ``zlib.crc32`` only names the index
file, and the index holds the full inputs, compared byte for byte.
"""

from __future__ import annotations

import os
import stat  # already loaded by os: free
import time
import zlib

from .. import __version__
from ..cache.freshness import is_fresh
from ..config.paths import config_path, default_cache_dir

# Typing-only imports: collections.abc and typing cost milliseconds on the cache-hit path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import BinaryIO

INDEX_MAGIC = b"sf-credproc-index/3"
ENTRY_MAGIC = b"sf-credproc-cache/1"
INDEX_SUFFIX = ".idx"
#: Entries and indexes are read up to this size. The token endpoint's answer is cut at 256 KiB
#: (exchange.MAX_RESPONSE_BYTES), so every token that can be obtained can also be cached, even in
#: an index of ``--format env`` (which holds the token twice).
MAX_FILE_BYTES = 1024 * 1024

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
    "SF_CREDPROC_FORMAT",
    "SF_CREDPROC_TRUSTED_HOSTS",
)


def invocation_key(
    argv: Sequence[str], environ: Mapping[str, str], version: str = __version__
) -> bytes:
    """Everything that decides the outcome of a ``get`` invocation, as bytes.

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
    return b"\0".join(parts)


def index_path(key: bytes, environ: Mapping[str, str]) -> str:
    """Where the index of the invocation ``key`` names lives: the default cache directory (the only
    one the fast path knows without resolving settings), named by the key's CRC-32."""
    name = f"{zlib.crc32(key):08x}{INDEX_SUFFIX}"
    return os.path.join(default_cache_dir(environ), name)


def read_private_file(path: str, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """Contents of ``path`` if it is a regular file of ours that no one else can read or write.

    ``O_NOFOLLOW`` refuses symbolic links and ``O_NONBLOCK`` opens a FIFO at once instead of waiting
    for a writer; the checks run on the opened descriptor, so the file cannot be swapped between
    check and read. Shared with ``cache.py``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.getuid()
            or info.st_mode & 0o077
            or info.st_size > limit
        ):
            return None
        # One byte more than fstat saw: a file that grew meanwhile reads as a miss, not a cut.
        data = os.read(fd, info.st_size + 1)
        return data if len(data) == info.st_size else None
    except OSError:
        return None
    finally:
        os.close(fd)


def split_entry(data: bytes) -> tuple[list[bytes], bytes, bytes] | None:
    """``(header fields, credential line, identity line)`` of a cache entry, or None.

    The byte layout of an entry, owned here for both readers: ``cache.decode_entry`` checks the
    JSON on top of it; the fast path serves only an entry byte-identical to one that check passed.
    """
    # Exactly three complete lines (header, credential, identity): anything else was cut short.
    lines = data.split(b"\n")
    if len(lines) != 4 or lines[3] != b"":
        return None
    fields = lines[0].split(b" ")
    if len(fields) != 4 or fields[0] != ENTRY_MAGIC:
        return None
    if not (fields[1].isdigit() and fields[2].isdigit()):
        return None
    return fields, lines[1], lines[2]


def entry_digest(data: bytes) -> bytes:
    """Names an entry's exact bytes in an index: CRC-32 and length (corruption, not forgery: the
    files are the user's own, 0600 in a 0700 directory)."""
    return b"%08x-%d" % (zlib.crc32(data), len(data))


def parse_index(data: bytes) -> tuple[int, int, str, bytes, bytes, bytes, bytes] | None:
    """``(min_ttl, session_ttl, entry path, entry header, entry digest, invocation key, output)``
    of an index."""
    header, newline, body = data.partition(b"\n")
    fields = header.split(b"\t")
    if not newline or len(fields) != 7 or fields[0] != INDEX_MAGIC:
        return None
    try:
        min_ttl, session_ttl, key_length = int(fields[1]), int(fields[2]), int(fields[6])
    except ValueError:
        return None
    if not 0 <= key_length <= len(body):
        return None
    entry_path = os.fsdecode(fields[3])
    return (
        min_ttl,
        session_ttl,
        entry_path,
        fields[4],
        fields[5],
        body[:key_length],
        body[key_length:],
    )


def ca_bundle_missing(environ: Mapping[str, str]) -> bool:
    """True when the CA bundle variable ``get`` would use names nothing: the full command then
    fails with exit 2 (``settings._ca_bundle``), and the fast path must not answer 0 instead."""
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        path = environ.get(name)
        if path:
            return not os.path.exists(path)
    return False


def cached_output(argv: Sequence[str], environ: Mapping[str, str], now: float) -> bytes | None:
    """What to print for this exact invocation, or None to run the full command."""
    if not argv or argv[0] != "get":
        return None
    if ca_bundle_missing(environ):
        return None
    key = invocation_key(argv, environ)
    index = read_private_file(index_path(key, environ))
    parsed = parse_index(index) if index is not None else None
    if parsed is None:
        return None
    min_ttl, session_ttl, entry_path, recorded_header, recorded_digest, stored_key, output = parsed
    if stored_key != key or not output:
        return None
    entry = read_private_file(entry_path)
    if entry is None or entry_digest(entry) != recorded_digest:
        # Changed since the full reader accepted it and this index was made: let it judge again.
        return None
    split = split_entry(entry)
    # The output was rendered from this very token: an entry refreshed since then (by another
    # invocation) has another header, and the full command renders the new token.
    if split is None or b" ".join(split[0]) != recorded_header:
        return None
    expiration = int(split[0][1])
    if not is_fresh(expiration, now, min_ttl, session_ttl):
        return None
    return output


def record_invocation(
    argv: Sequence[str],
    environ: Mapping[str, str],
    *,
    entry_path: str,
    entry_header: bytes,
    min_ttl_seconds: int,
    session_ttl_seconds: int,
    output: bytes,
) -> None:
    """Remember what this exact invocation printed, for the token in ``entry_path``.

    Best effort: the index only saves time, and the full command works without it.
    """
    from ..cache.files import decode_entry, ensure_private_directory, write_private_file
    from ..errors import ConfigError

    key = invocation_key(argv, environ)
    path = index_path(key, environ)
    if os.path.dirname(os.path.abspath(entry_path)) != os.path.abspath(os.path.dirname(path)):
        # The cache directory came from a flag or a profile, which the fast path cannot see
        # without resolving settings; and nothing is written outside the chosen directory.
        return
    # Record the entry exactly as the full reader accepts it now: the fast path serves nothing
    # else, so the two readers cannot disagree.
    entry = read_private_file(entry_path)
    accepted = decode_entry(entry, entry_path) if entry is not None else None
    if entry is None or accepted is None or accepted.header != entry_header:
        return
    fields = [
        INDEX_MAGIC,
        b"%d" % min_ttl_seconds,
        b"%d" % session_ttl_seconds,
        os.fsencode(entry_path),
        entry_header,
        entry_digest(entry),
    ]
    header = b"\t".join([*fields, b"%d" % len(key)])
    if b"\n" in header:
        return
    try:
        ensure_private_directory(os.path.dirname(path))
        write_private_file(
            os.path.dirname(path), os.path.basename(path), header + b"\n" + key + output
        )
    except (OSError, ConfigError):
        pass


def main_fast(argv: Sequence[str], environ: Mapping[str, str], stdout: BinaryIO) -> bool:
    """Print the cached output for this invocation if the fast path can; True if it did."""
    output = cached_output(argv, environ, time.time())
    if output is None:
        return False
    stdout.write(output)
    stdout.flush()
    return True
