"""What both measurement scripts need: a throwaway signing key on disk, removed afterwards."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sf_credproc.cli.emulator import write_throwaway_key


@contextlib.contextmanager
def throwaway_workspace(prefix: str) -> Iterator[tuple[Path, Path, bytes]]:
    """A private temporary directory (0700) with a throwaway key in it: ``(directory, key path,
    public key PEM)``. Removed with everything in it on the way out, Ctrl-C included."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        key_path, public = write_throwaway_key(str(work))
        yield work, Path(key_path), public
    finally:
        shutil.rmtree(work, ignore_errors=True)
