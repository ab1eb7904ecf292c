"""The README's simulations run, at a tiny scale, and print the shape the README's figures come from.

Benchmarks are scripts, not timed tests: these check that the scripts run against the current code
and that what they report holds together, never how fast anything is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def simulate(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_outages_fail_fewer_gets_with_the_advisory_window() -> None:
    """Two hosts for three hours; the outage starts as the first tokens enter the advisory window
    (01:44): the old rule fails from then to its end, the windows only from the mandatory one."""
    report = simulate(
        "simulate_outages.py",
        *("--hosts", "2", "--hours", "3"),
        *("--outage", "01:44", "--outage", "02:40", "--rate-limit", "02:50"),
    )
    old, new = report["fleets"]
    assert (old["fleet"], new["fleet"]) == ("old", "new")
    assert report["outages"] == ["01:44-02:04", "02:40-03:00"]
    for fleet in (old, new):
        assert fleet["gets"] == 2 * 180
        assert fleet["served_from_cache"] + fleet["logins"] + fleet["failed_gets"] == fleet["gets"]
        assert set(fleet["failed_gets_by_exit_status"]) <= {"5"}
        assert fleet["logins"] == 4  # at the start, and when the outage ends
    assert 0 < new["failed_gets"] < old["failed_gets"]
    assert new["served_after_a_failed_refresh"] > old["served_after_a_failed_refresh"]
    assert all(span.startswith("01:") for span in old["failures_at"])


def test_internet_scale_counts_the_hot_item_and_is_deterministic() -> None:
    """Forty hosts for two hours, twice: one login per session, every table call counted, and the
    same figures both times."""
    args = ("--hosts", "40", "--hours", "2", "--workers", "1")
    first = simulate("simulate_internet_scale.py", *args)
    second = simulate("simulate_internet_scale.py", *args)
    assert first["limits_per_partition"] == {"reads_per_second": 3000, "writes_per_second": 1000}
    fleets = first["fleets"]
    assert [(f["jitter"], f["invocations"]) for f in fleets] == [
        (False, "cron at :00"),
        (False, "spread over the minute"),
        (True, "cron at :00"),
        (True, "spread over the minute"),
    ]
    for fleet in fleets:
        assert fleet["logins"] == 2  # the cold start, and the one refresh at 01:44
        assert fleet["invocations_run"] + fleet["local_fresh_hits_not_run"] == 40 * 120
        assert fleet["reads"] >= fleet["invocations_run"]  # each run reads the item at least once
        assert fleet["peak_reads_per_second"]["count"] <= fleet["reads"]
    # At :00 the whole cold fleet contends for the lease in one second; spread, it does not.
    assert (
        fleets[0]["peak_writes_per_second"]["count"] > fleets[1]["peak_writes_per_second"]["count"]
    )
    for run in (first, second):
        for fleet in run["fleets"]:
            del fleet["wall_seconds"]
    assert first == second
