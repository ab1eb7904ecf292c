"""The newest issue time this machine has seen in the shared tier, per identity.

KMS binds an item's expiration and issue time to its ciphertext, but anyone who can write the
table can still put back an older item whole: a replay, perhaps of a token that ``logout`` revoked.
This machine remembers the newest ``issued_at`` it has read or written for each identity and
refuses older items. The mark is a small file beside the cache entry,
``<sha256 of identity>.seen`` (0600, written atomically like the entries); ``cache clear`` keeps
it, since forgetting it is what would let a replay through. A machine with no history has no mark.
"""

from __future__ import annotations

import contextlib
import os

from ..errors import ConfigError
from .disk import ensure_private_directory, read_private_file, write_private_file

WATERMARK_SUFFIX = ".seen"
WATERMARK_MAGIC = b"sf-credproc-seen/1"


class IssuedAtWatermark:
    """The high-water mark of ``issued_at`` for one identity, in one cache directory."""

    def __init__(self, directory: str, item_id: str) -> None:
        self.directory = directory
        self.name = item_id + WATERMARK_SUFFIX

    def read(self) -> int:
        """The newest issue time seen (Unix seconds); 0 when none is recorded or the file is not
        trustworthy (a symbolic link, another owner, readable by others, malformed)."""
        data = read_private_file(os.path.join(self.directory, self.name), limit=128)
        if data is None:
            return 0
        magic, _, number = data.strip().partition(b" ")
        if magic != WATERMARK_MAGIC or not number.isdigit():
            return 0
        return int(number)

    def raise_to(self, issued_at: int) -> None:
        """Record ``issued_at`` if it is newer than the mark. A mark that cannot be written only
        weakens the replay check on this machine, so it never fails the command."""
        if issued_at <= self.read():
            return
        with contextlib.suppress(OSError, ConfigError):
            ensure_private_directory(self.directory)
            write_private_file(self.directory, self.name, b"%s %d\n" % (WATERMARK_MAGIC, issued_at))
