"""When the token cache refuses a directory: one rule for the cache and for ``doctor``.

Entries are bearer tokens: a directory that another user owns, or that group or others may write,
lets them plant or swap entries, so it is refused rather than repaired (botocore's JSONFileCache
creates its directory 0700 for the same reason).
"""

from __future__ import annotations

import os
import stat
from typing import Literal

#: ``type``: not a directory; ``owner``: another user's; ``mode``: writable by group or others.
DirectoryRefusal = Literal["type", "owner", "mode"]


def directory_refusal(info: os.stat_result) -> DirectoryRefusal | None:
    """Why the cache refuses the path ``info`` describes as its directory; None when it may use it."""
    if not stat.S_ISDIR(info.st_mode):
        return "type"
    if info.st_uid != os.getuid():
        return "owner"
    if info.st_mode & 0o022:
        return "mode"
    return None
