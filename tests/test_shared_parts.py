"""The shared tier's small parts at their own seams: the share of the deadline (a fake clock) and
the per-machine replay mark (a cache directory)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clocks import ManualClock

from sf_credproc.cache.deadline_share import DeadlineShare
from sf_credproc.cache.shared_watermark import IssuedAtWatermark
from sf_credproc.deadline import Deadline
from sf_credproc.errors import TransientError


def test_the_share_is_half_of_what_is_left_and_stops_during_the_login() -> None:
    clock = ManualClock()
    overall = Deadline(30, clock)
    clock.sleep(10)  # the local cache and its lock took a while
    share = DeadlineShare(overall, clock)
    assert share.remaining() == 10  # half of the 20 s left
    assert share.attempt_budget("reading") == 5  # a call may hang through half of the share
    clock.sleep(4)
    with share.paused():
        clock.sleep(9)  # the login
    assert share.remaining() == 6 and overall.remaining() == 7
    clock.sleep(6.5)
    assert share.remaining() == 0 and overall.remaining() == 0.5  # spent; the login still has time
    with pytest.raises(TransientError, match="share of the deadline ran out"):
        share.attempt_budget("writing the shared item")


def test_a_share_never_outlasts_the_command() -> None:
    clock = ManualClock()
    overall = Deadline(10, clock)
    share = DeadlineShare(overall, clock)
    with share.paused():
        clock.sleep(8)
    assert share.remaining() == 2 == overall.remaining()


def test_the_mark_only_rises_and_is_private(tmp_path: Path) -> None:
    directory = str(tmp_path / "cache")
    mark = IssuedAtWatermark(directory, "a" * 64)
    assert mark.read() == 0
    mark.raise_to(200)
    mark.raise_to(100)  # an older item seen later does not lower it
    assert mark.read() == 200
    path = tmp_path / "cache" / ("a" * 64 + ".seen")
    assert path.stat().st_mode & 0o777 == 0o600
    assert os.stat(directory).st_mode & 0o777 == 0o700


@pytest.mark.parametrize("tamper", ["readable by others", "symbolic link", "garbage"])
def test_an_untrustworthy_mark_is_no_mark(tamper: str, tmp_path: Path) -> None:
    mark = IssuedAtWatermark(str(tmp_path), "b" * 64)
    mark.raise_to(500)
    path = tmp_path / ("b" * 64 + ".seen")
    if tamper == "readable by others":
        path.chmod(0o644)
    elif tamper == "symbolic link":
        elsewhere = tmp_path / "elsewhere"
        path.rename(elsewhere)
        path.symlink_to(elsewhere)
    else:
        path.write_bytes(b"sf-credproc-seen/1 12x\n")
    assert mark.read() == 0
