"""``exec``'s child environment as the fast path rebuilds it: a *recipe* recorded by the full
command, and the token taken from the cache entry.

The full ``exec`` (``cli/exec_command.py``) gives its command the caller's environment without the
secret variables that unlocked the key, plus the credential's variables (``formats`` and, with
``--cumulusci-org``, ``cumulusci``). Once it has built them it records, in the index's output field
(``cache/disk.py``), everything needed to build them again without resolving settings:

* the *names* of the variables to remove (``config.options.SECRET_ENVIRONMENT`` and the ``env:``
  key source's variable): never their values;
* each variable to add, in order, as the parts of its value around the access token;
* where the token sits in the entry's credential line (offset and length).

The token itself is not written into the index: the fast path serves a recipe only for the entry
byte for byte as the full reader accepted it (``disk.indexed_entry``), so the token is at that very
place in it. A token that JSON would escape (so that it would not appear verbatim in the line) is
never recorded; such an ``exec`` always takes the full command.

The encoding is NUL-separated, the one byte no name or value of an environment can hold::

    sf-credproc-exec/1 NUL crc NUL offset NUL length NUL n NUL name... NUL m NUL (name NUL k NUL part...)...

(``crc``: the CRC-32 of what follows it, in hex, as ``disk.entry_digest``: corruption, not forgery).

Standard library only (``os``), and no ``__future__``: the fast path imports this module.
"""

import os
import zlib  # already loaded by cache.disk: free

# Typing-only imports: collections.abc and typing cost milliseconds on the cache-hit path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

RECIPE_MAGIC = b"sf-credproc-exec/1"


def _plain(token: bytes) -> bool:
    """True when JSON writes ``token`` as it is: printable ASCII without a quote or backslash."""
    return bool(token) and all(0x21 <= byte <= 0x7E and byte not in b'"\\' for byte in token)


def encode_recipe(
    *,
    remove: "Iterable[str]",
    variables: "Mapping[str, str]",
    token: str,
    credential_line: bytes,
) -> "bytes | None":
    """The recipe of a child environment; None when it cannot be recorded without the token."""
    raw = os.fsencode(token)
    if not _plain(raw):
        return None
    found = credential_line.find(b'"' + raw + b'"')
    if found < 0:
        return None
    names = [os.fsencode(name) for name in remove]
    fields = [RECIPE_MAGIC, b"%d" % (found + 1), b"%d" % len(raw), b"%d" % len(names), *names]
    fields.append(b"%d" % len(variables))
    for name, value in variables.items():
        parts = os.fsencode(value).split(raw)
        fields.extend([os.fsencode(name), b"%d" % len(parts), *parts])
    if any(b"\0" in field for field in fields):
        return None
    body = b"\0".join(fields[1:])
    return b"%s\0%08x\0%s" % (RECIPE_MAGIC, zlib.crc32(body), body)


def _count(field: bytes) -> int:
    """A non-negative decimal field; -1 when it is not one."""
    return int(field) if field.isdigit() and len(field) < 10 else -1


def child_environment(
    recipe: bytes, credential_line: bytes, environ: "Mapping[str, str]"
) -> "dict[str, str] | None":
    """``environ`` without the recorded names, with the recorded variables (the token from
    ``credential_line``), in the order the full command builds it; None on anything unexpected."""
    magic, _, rest = recipe.partition(b"\0")
    checksum, _, body = rest.partition(b"\0")
    if magic != RECIPE_MAGIC or checksum != b"%08x" % zlib.crc32(body):
        return None
    fields = [magic, *body.split(b"\0")]
    if len(fields) < 5:
        return None
    offset, length, removed = _count(fields[1]), _count(fields[2]), _count(fields[3])
    if offset < 1 or length < 1 or removed < 0 or offset + length >= len(credential_line):
        return None
    token = credential_line[offset : offset + length]
    # The token is a JSON string of the line: quoted on both sides, and nothing JSON escapes.
    quotes = credential_line[offset - 1 : offset] + credential_line[offset + length :][:1]
    if quotes != b'""' or not _plain(token):
        return None
    position = 4 + removed
    if position >= len(fields):
        return None
    remove = {os.fsdecode(name) for name in fields[4:position]}
    wanted = _count(fields[position])
    position += 1
    added: dict[str, str] = {}
    for _ in range(wanted if wanted > 0 else 0):
        if position + 1 >= len(fields):
            return None
        name, parts = fields[position], _count(fields[position + 1])
        end = position + 2 + parts
        if not name or b"=" in name or parts < 1 or end > len(fields):
            return None
        added[os.fsdecode(name)] = os.fsdecode(token.join(fields[position + 2 : end]))
        position = end
    if wanted < 1 or position != len(fields):
        return None
    environment = {name: value for name, value in environ.items() if name not in remove}
    environment.update(added)
    return environment
