"""The ``sf-credproc`` entry point: the cache-hit fast path first, the full command otherwise."""

from __future__ import annotations

import os
import sys


def main() -> int:
    from .fast_path import main_fast

    try:
        if main_fast(sys.argv[1:], os.environ, sys.stdout.buffer):
            return 0
    except OSError:
        pass  # e.g. a closed stdout: let the full command report it properly
    from .cli import main as full_main

    return int(full_main())
