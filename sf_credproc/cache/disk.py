"""The token cache on disk, owned here for every reader (the file cache, the shared tier's copy, the
cache-hit fast path): the files' layouts, how they are read and written, and when a token in them
may be served. Standard library only (``os``, ``stat``, ``zlib``), and not even ``__future__``: the
fast path imports this module, and every import costs each cache hit.

**Private files.** Reads open with ``O_NOFOLLOW`` (no symbolic link) and ``O_NONBLOCK`` (a FIFO opens
at once instead of waiting for a writer) and check the opened descriptor, so the file cannot be
swapped between check and read. Writes go through a 0600 ``mkstemp`` file, fsync and ``os.replace``
(botocore's ``JSONFileCache`` does the same, without the read checks), then fsync the directory.

**Freshness.** A token's state at a moment (botocore's ``RefreshableCredentials`` and google-auth's
FRESH / STALE / INVALID, with the AWS SDKs' jitter):

* ``fresh``: more than the *advisory* window left (``--min-ttl``, stretched per host and identity
  by a fraction in [0, 10 %) so that a fleet does not refresh in the same second, and only ever
  earlier); served as it is;
* ``advisory``: inside the advisory window; served, but the next ``get`` tries to refresh first;
* ``mandatory``: inside the *mandatory* window (``--mandatory-ttl``), or later than a session of
  the *current* ``--session-ttl`` started now could last (lowering ``--session-ttl`` takes effect at
  once): served only if a refresh succeeds;
* ``expired``: never served.

The windows arrive resolved (their defaults scale with the session: ``config.options``). What
each state does when a refresh fails is ``refresh.py``'s; only ``fresh`` is served without the
full command.

**An entry**, ``<sha256 of identity>.cred`` (0600), holds exactly three lines:

* ``sf-credproc-cache/1 <expiration> <issued at> <generation>``: Unix seconds, and 16 random hex
  digits that tell two tokens of one second apart (an index records this line to recognise the
  token its output was made from);
* the credential JSON line, exactly as ``--format json`` prints it (the output contract);
* the identity as JSON (for ``cache list``).

What an entry's lines mean is checked by ``entry.py``; here they are only split and joined.

**An index** (``<crc32 of the invocation key>.idx``, 0600, beside the entries) records what one exact
``get`` invocation printed, for one token: a header line of tab-separated fields, then the invocation
key (the SHA-256 of the invocation's inputs, never the inputs) and the output, concatenated::

    sf-credproc-index/4 <advisory seconds> <session ttl> <entry path> <entry header> <entry digest> <key length>

The output is served again only while the entry at that path is byte-identical to the one the
full reader accepted when the index was written (same digest, same header: the very token the
output was rendered from) and still ``fresh`` by the advisory window (this host's, jitter included)
recorded there; any other state takes the full command, which may refresh. For ``exec`` the
output is the child's environment as a recipe, the token left out (``exec_recipe.py``).
"""

import os
import stat  # already loaded by os: free
import zlib

# --- private files

#: Entries and indexes are read up to this size. The token endpoint's answer is cut at 256 KiB
#: (exchange.MAX_RESPONSE_BYTES), so every token that can be obtained can also be cached, even in
#: an index of ``--format env`` (which holds the token twice).
MAX_FILE_BYTES = 1024 * 1024
#: The suffix of a temporary file that ``write_private_file`` has not yet renamed into place.
TEMPORARY_SUFFIX = ".part"


def read_private_file(path: str, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """Contents of ``path`` if it is a regular file of ours that no one else can read or write,
    of at most ``limit`` bytes; None otherwise (absent, a link, a FIFO, another owner...)."""
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


def write_private_file(directory: str, name: str, data: bytes) -> str:
    """Atomically replace ``directory/name`` with ``data``: a 0600 temporary file, fsync, rename.
    Returns the path written."""
    # Not on the cache-hit path, which only reads: contextlib alone costs it milliseconds.
    import contextlib
    import tempfile

    for attempt in (1, 2):
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=TEMPORARY_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as handle:  # mkstemp: 0600, O_EXCL
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            final = os.path.join(directory, name)
            os.replace(temporary, final)
            break
        except FileNotFoundError:
            # ``cache clear --all`` in another process removed the temporary file (or the
            # directory) mid-write: write once more, then let the error speak.
            if attempt == 2:
                raise
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    # Make the rename itself durable.
    with contextlib.suppress(OSError):
        directory_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)
    return final


def ensure_private_directory(path: str) -> None:
    """Create ``path`` as 0700 (parents as usual); refuse an existing one that others may write.

    Raises ``ConfigError`` naming the directory and the fix.
    """
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        os.mkdir(path, 0o700)  # the umask can only remove bits: never readable by others
    except FileExistsError:
        pass  # the path exists, or a parent is not a directory: the stat below says which
    except OSError as error:
        raise _unusable_directory(path, error.strerror) from error
    try:
        info = os.stat(path)
    except OSError as error:  # e.g. a parent is a regular file (ENOTDIR)
        raise _unusable_directory(path, error.strerror) from error
    from .directory_rule import directory_refusal  # the write path only, never a cache hit

    refusal = directory_refusal(info)
    if refusal == "type":
        from ..errors import ConfigError
        from ..local_files import describe_file_type

        raise ConfigError(
            f"cache directory {path} is {describe_file_type(info.st_mode)}, not a directory",
            hint="Choose another --cache-dir",
        )
    if refusal is not None:
        from ..errors import ConfigError

        raise ConfigError(
            f"cache directory {path} is not owned by this user or is writable by others",
            hint=f"Run chmod 700 {path}, or choose another --cache-dir",
        )


def _unusable_directory(path: str, reason: str | None) -> Exception:
    from ..errors import ConfigError  # only on failure: the fast path never gets here

    return ConfigError(
        f"cache directory {path} cannot be created ({reason})",
        hint="Choose a writable --cache-dir (SF_CREDPROC_CACHE_DIR), or pass --no-cache",
    )


# --- freshness

#: Entries copied from the shared tier were written on another machine's clock: a few seconds of
#: skew must not make every such entry look longer-lived than the session, and so never served.
CLOCK_SKEW_ALLOWANCE_SECONDS = 60


def outlives_session(expiration: float, now: float, session_ttl_seconds: int) -> bool:
    """True when ``expiration`` is later than a session started now could last: the token was
    obtained under a longer ``--session-ttl`` than the one in force."""
    return expiration - now > session_ttl_seconds + CLOCK_SKEW_ALLOWANCE_SECONDS


FRESH = "fresh"
ADVISORY = "advisory"
MANDATORY = "mandatory"
EXPIRED = "expired"
#: The advisory window is stretched by up to this fraction, per host and identity.
MAX_JITTER_FRACTION = 0.10


def jitter_fraction(identity_stem: str, host: str) -> float:
    """A stable fraction in [0, ``MAX_JITTER_FRACTION``) for one host and one identity.

    CRC-32 rather than a random draw: every invocation on the host agrees (the fast path too), and
    hosts that copied the same token from the shared tier still refresh at different moments.
    """
    key = (host + "\0" + identity_stem).encode("utf-8", "surrogateescape")
    return zlib.crc32(key) / 4294967296.0 * MAX_JITTER_FRACTION


def advisory_seconds(min_ttl_seconds: int, identity_stem: str, host: str) -> int:
    """The advisory window of one identity on one host: ``--min-ttl`` * (1 + jitter), rounded up
    to whole seconds (never shorter than ``--min-ttl``)."""
    stretched = min_ttl_seconds * (1.0 + jitter_fraction(identity_stem, host))
    whole = int(stretched)
    return whole if whole == stretched else whole + 1


def this_host() -> str:
    """The host name the jitter is derived from."""
    return os.uname().nodename


def refresh_state(
    expiration: float,
    now: float,
    advisory_seconds: int,
    mandatory_seconds: int,
    session_ttl_seconds: int,
) -> str:
    """The state of a token expiring at ``expiration`` (Unix seconds) at ``now``."""
    left = expiration - now
    if left <= 0:
        return EXPIRED
    if left <= mandatory_seconds or outlives_session(expiration, now, session_ttl_seconds):
        return MANDATORY
    if left <= advisory_seconds:
        return ADVISORY
    return FRESH


def is_fresh(
    expiration: float, now: float, advisory_seconds: int, session_ttl_seconds: int
) -> bool:
    """True when a token expiring at ``expiration`` (Unix seconds) is ``fresh`` at ``now``: more
    than the advisory window left, and not outliving the session."""
    return expiration - now > advisory_seconds and not outlives_session(
        expiration, now, session_ttl_seconds
    )


# --- entries and indexes

ENTRY_MAGIC = b"sf-credproc-cache/1"
ENTRY_SUFFIX = ".cred"
LOCK_SUFFIX = ".lock"


class EntryLines:
    """The three lines of an entry, split but not interpreted (a plain class: ``dataclasses``
    costs milliseconds on the cache-hit path)."""

    __slots__ = ("credential_line", "expiration", "header", "identity_line", "issued_at")

    def __init__(
        self, header: bytes, expiration: int, issued_at: int, credential: bytes, identity: bytes
    ) -> None:
        self.header = header
        self.expiration = expiration
        self.issued_at = issued_at
        self.credential_line = credential
        self.identity_line = identity


def new_entry_header(expiration: int, issued_at: int) -> bytes:
    """The first line of a new entry, with a new random generation."""
    return b"%s %d %d %s" % (ENTRY_MAGIC, expiration, issued_at, os.urandom(8).hex().encode())


def join_entry(header: bytes, credential_line: bytes, identity_line: bytes) -> bytes:
    """An entry's bytes: the three lines, each ended by a newline."""
    return b"\n".join([header, credential_line, identity_line, b""])


def split_entry(data: bytes) -> EntryLines | None:
    """The lines of an entry, or None when ``data`` is not laid out as one of this version."""
    # Exactly three complete lines (header, credential, identity): anything else was cut short.
    lines = data.split(b"\n")
    if len(lines) != 4 or lines[3] != b"":
        return None
    fields = lines[0].split(b" ")
    if len(fields) != 4 or fields[0] != ENTRY_MAGIC:
        return None
    if not (fields[1].isdigit() and fields[2].isdigit()):
        return None
    return EntryLines(lines[0], int(fields[1]), int(fields[2]), lines[1], lines[2])


def entry_digest(data: bytes) -> bytes:
    """Names an entry's exact bytes in an index: CRC-32 and length (corruption, not forgery: the
    files are the user's own, 0600 in a 0700 directory)."""
    return b"%08x-%d" % (zlib.crc32(data), len(data))


INDEX_MAGIC = b"sf-credproc-index/4"
INDEX_SUFFIX = ".idx"


class IndexRecord:
    """The fields of an index (a plain class: ``dataclasses`` costs milliseconds at start)."""

    __slots__ = (
        "advisory_seconds",
        "entry_digest",
        "entry_header",
        "entry_path",
        "key",
        "output",
        "session_ttl_seconds",
    )

    def __init__(
        self,
        *,
        advisory_seconds: int,
        session_ttl_seconds: int,
        entry_path: str,
        entry_header: bytes,
        entry_digest: bytes,
        key: bytes,
        output: bytes,
    ) -> None:
        self.advisory_seconds = advisory_seconds
        self.session_ttl_seconds = session_ttl_seconds
        self.entry_path = entry_path
        self.entry_header = entry_header
        self.entry_digest = entry_digest
        self.key = key
        self.output = output


def parse_index(data: bytes) -> IndexRecord | None:
    """The record in ``data``, or None when it is not an index of this version."""
    header, newline, body = data.partition(b"\n")
    fields = header.split(b"\t")
    if not newline or len(fields) != 7 or fields[0] != INDEX_MAGIC:
        return None
    try:
        advisory, session_ttl, key_length = int(fields[1]), int(fields[2]), int(fields[6])
    except ValueError:
        return None
    if not 0 <= key_length <= len(body):
        return None
    return IndexRecord(
        advisory_seconds=advisory,
        session_ttl_seconds=session_ttl,
        entry_path=os.fsdecode(fields[3]),
        entry_header=fields[4],
        entry_digest=fields[5],
        key=body[:key_length],
        output=body[key_length:],
    )


def encode_index(record: IndexRecord) -> bytes | None:
    """The bytes of ``record``; None when a field would break the header line (a newline in the
    entry path)."""
    fields = [
        INDEX_MAGIC,
        b"%d" % record.advisory_seconds,
        b"%d" % record.session_ttl_seconds,
        os.fsencode(record.entry_path),
        record.entry_header,
        record.entry_digest,
        b"%d" % len(record.key),
    ]
    header = b"\t".join(fields)
    if b"\n" in header:
        return None
    return header + b"\n" + record.key + record.output


def indexed_output(index_path: str, key: bytes, now: float) -> bytes | None:
    """The output recorded at ``index_path`` for invocation ``key``, if it may be printed at
    ``now``; None sends the invocation to the full command."""
    found = indexed_entry(index_path, key, now)
    return None if found is None else found[0]


def indexed_entry(index_path: str, key: bytes, now: float) -> tuple[bytes, EntryLines] | None:
    """The output recorded for ``key`` and the lines of the entry it was made from, by the same
    checks (``exec``'s recipe takes the token from the entry: ``exec_recipe.py``)."""
    data = read_private_file(index_path)
    record = parse_index(data) if data is not None else None
    if record is None or record.key != key or not record.output:
        return None
    entry = read_private_file(record.entry_path)
    if entry is None or entry_digest(entry) != record.entry_digest:
        # Changed since the full reader accepted it and this index was made: let it judge again.
        return None
    lines = split_entry(entry)
    # The output was rendered from this very token: an entry refreshed since then (by another
    # invocation) has another header, and the full command renders the new token.
    if lines is None or lines.header != record.entry_header:
        return None
    if not is_fresh(lines.expiration, now, record.advisory_seconds, record.session_ttl_seconds):
        return None
    return record.output, lines
