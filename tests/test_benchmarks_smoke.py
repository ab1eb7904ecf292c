"""The endpoint's benchmark runs, at a tiny scale, and prints the table the README's figures come from.

A smoke test, not a timed one: it checks that ``benchmarks/bench_serve.py --quick`` drives a real
``serve`` process through its load generator against the current code (every response checked by
the generator), that the serve process logged in exactly once, and that every row of the table is
there, never how fast anything is.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_bench_serve_quick_prints_every_row_with_one_login() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_serve.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    rows = done.stdout.splitlines()
    assert rows[:2] == ["| measurement | result |", "|---|---|"]
    names = [row.split(" | ")[0].lstrip("| ") for row in rows[2:]]
    assert names == [
        "`GET /credential`, `serve`, 16 keep-alive clients",
        "logins seen by the emulator, the serve process's whole life",
        "the same, every request head another (`X-Request-Id: N`), 16 clients",
        "a minimal asyncio server, same load generator, 16 clients",
        "`sf-credproc get`, cache hit, one process per credential",
        "`python -c pass`",
        "serve RSS after 1,000 / 3,000 requests",
        "machine",
    ]
    by_name = dict(zip(names, rows[2:], strict=True))
    logins = by_name["logins seen by the emulator, the serve process's whole life"]
    assert "| **1** (" in logins
    assert "SIGTERM: exit 0;" in logins
    for name in names[0], names[2], names[3]:
        served = re.search(r"\*\*([\d,]+)\*\* req/s", by_name[name])
        assert served is not None, by_name[name]
        assert int(served.group(1).replace(",", "")) > 0
    memory = re.search(r"\| ([\d,]+) / ([\d,]+) KiB", by_name[names[6]])
    assert memory is not None, by_name[names[6]]
    assert int(memory.group(1).replace(",", "")) > 10_000  # an interpreter's RSS, in KiB
