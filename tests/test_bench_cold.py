"""The cold-start benchmark runs, one round, and reports every figure the README's table uses.

A smoke test, not a timed one: ``benchmarks/bench_cold.py --rounds 1`` runs the floor script and
the installed ``sf-credproc get --no-cache`` against the emulator, with a ``file:`` key and a KMS
key in moto's server; every process's output is checked inside the benchmark. Never how fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_bench_cold_reports_the_floor_and_the_command_for_each_key_source() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_cold.py"), "--rounds", "1", "--rss-runs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert results["interpreter_ms"] > 0
    for source in ("file", "kms"):
        floor = results[source]["floor"]
        for phase in (
            "imports_ms", "key_ms", "signing_ms", "exchange_ms", "total_ms", "ending_at_once_ms",
            "like_for_like_ms",
        ):  # fmt: skip
            assert floor[phase] > 0, (source, phase)
        subject = results[source]["sf-credproc"]
        assert subject["total_ms"] > 0
        like_for_like = subject["total_ms"] - floor["ending_at_once_ms"]
        assert abs(subject["vs_floor_ending_at_once_ms"] - like_for_like) < 0.2  # rounding
        strict = subject["total_ms"] - floor["like_for_like_ms"]
        assert abs(subject["vs_floor_like_for_like_ms"] - strict) < 0.2
        # One round: the median of one difference is that difference.
        assert abs(subject["paired_vs_floor_like_for_like_ms"] - strict) < 0.2
        assert subject["imports_ms"] > 0
        extra = subject["extra_imports"]
        assert extra["modules"] > 0  # sf-credproc's own modules, at least
        assert "s3transfer" not in extra["by_package_ms"]
        assert "boto3" not in extra["by_package_ms"]
    skipping = results["file"]["floor_skipping_rsa_key_check"]
    assert skipping["key_ms"] > 0 and skipping["total_ms"] > 0
