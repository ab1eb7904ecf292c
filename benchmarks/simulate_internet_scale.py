"""Internet scale, by simulation: N hosts sharing one identity through the DynamoDB tier for 24 h.

A model driven by the real cache code, not the network: every host is a ``TieredTokenCache`` over
a ``FileTokenCache`` of its own (a directory under a temporary directory, in memory where
``/dev/shm`` exists) with its own host name, so its own jitter; all share one ``CountingTable``
(``counting_table.py``: the table's conditions, counted per second) and one discrete-event clock
(``event_clock.py``: concurrent invocations interleave at every table call, a login takes 0.4 s).
Each host runs ``get`` from cron every minute:

    python benchmarks/simulate_internet_scale.py [--hosts 10000] [--hours 24] [--throttle]

Four fleets are simulated: with and without jitter (without: every cache gets the same host
name), each with cron firing at second :00 (starts spread over a second by process start-up) and
with invocations spread over the minute (each host at its own second). An invocation whose local
entry is ``fresh`` by the real state function (``RefreshWindows.state``, this host's windows) is a
local hit that never touches the table, so it is counted and not run; every other one runs the
real code. The caches start empty (a fleet's cold start); "steady" excludes the first 10 minutes.

Deterministic: offsets and the cache's poll jitter come from seeded generators. Prints JSON: peak
reads and writes per second on the one hot item against DynamoDB's per-partition limits (3,000
reads/s, 1,000 writes/s), with the second they happen in, totals, and logins. With ``--throttle``
the table refuses calls beyond those limits, as DynamoDB throttles a hot item, and the cache code
does what it does with any failure of the tier.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from counting_table import READ_LIMIT_PER_SECOND, WRITE_LIMIT_PER_SECOND, CountingTable
from event_clock import EventClock

from sf_credproc.cache.disk import FRESH
from sf_credproc.cache.files import FileTokenCache
from sf_credproc.cache.identity import CacheIdentity
from sf_credproc.cache.port import CacheRequest
from sf_credproc.cache.refresh import RefreshWindows
from sf_credproc.cache.tiered import TieredTokenCache
from sf_credproc.credential import Credential
from sf_credproc.deadline import Deadline

if TYPE_CHECKING:
    from sf_credproc.cache.shared import DynamoDbSharedCache

SESSION_TTL = 7200
MIN_TTL = 900  # the defaults for a 2-hour session
MANDATORY_TTL = 300
TIMEOUT = 30.0
LEASE_SECONDS = TIMEOUT + 5.0  # compose.LEASE_MARGIN_SECONDS
LOGIN_SECONDS = 0.4
#: Cron at :00 still starts each process a little later: the interpreter and its imports.
START_UP_SPREAD_SECONDS = 1.0
STEADY_AFTER_SECONDS = 600
START = 1_899_999_960  # a whole minute
IDENTITY = CacheIdentity(
    token_endpoint="https://login.salesforce.com/services/oauth2/token",  # noqa: S106 - a URL
    audience="https://login.salesforce.com",
    client_id="3MVG9internet.scale.simulation",
    username="fleet@acme.example",
)


@dataclass
class Fleet:
    """One simulated fleet: its hosts' caches and schedules, the table and the counts."""

    hosts: int
    jitter: bool
    spread_seconds: float
    seed: int
    work: Path
    minutes: int
    throttle: bool = False
    clock: EventClock = field(init=False)
    table: CountingTable = field(init=False)
    logins: list[float] = field(default_factory=list)
    invocations_run: int = 0
    local_hits_skipped: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.clock = EventClock(START)
        self.table = CountingTable(self.clock, lease_seconds=LEASE_SECONDS, throttle=self.throttle)
        offsets = random.Random(self.seed)  # noqa: S311 - a model's seeded draws
        self.names = [f"h{n}" if self.jitter else "h0" for n in range(self.hosts)]
        self.offsets = [offsets.uniform(0, self.spread_seconds) for _ in range(self.hosts)]
        self.windows = [
            RefreshWindows.of(
                min_ttl_seconds=MIN_TTL,
                mandatory_ttl_seconds=MANDATORY_TTL,
                session_ttl_seconds=SESSION_TTL,
                identity_stem=IDENTITY.file_stem,
                host=name,
            )
            for name in self.names
        ]
        self.local_expiration: list[int | None] = [None] * self.hosts
        self.due: dict[int, list[int]] = {0: list(range(self.hosts))}
        self.minute = 0

    def cache(self, n: int) -> TieredTokenCache:
        local = FileTokenCache(str(self.work / f"host-{n}"), self.clock, host=self.names[n])
        shared = cast("DynamoDbSharedCache", self.table)
        return TieredTokenCache(local, lambda share: shared)

    def run(self) -> None:
        random.seed(self.seed)  # the tiered cache's poll jitter
        for minute in range(self.minutes):
            self.minute = minute
            for n in self.due.pop(minute, []):
                self.clock.spawn(START + minute * 60 + self.offsets[n], self.invocation(n))
            self.clock.run_until(START + (minute + 1) * 60)
        self.clock.run_until(float("inf"))
        self.local_hits_skipped = self.hosts * self.minutes - self.invocations_run
        if self.clock.crashes:
            raise RuntimeError(f"a simulated get crashed: {self.clock.crashes[0]!r}")

    def invocation(self, n: int) -> Callable[[], None]:
        def get() -> None:
            self.invocations_run += 1
            request = CacheRequest(
                identity=IDENTITY,
                min_ttl_seconds=MIN_TTL,
                mandatory_ttl_seconds=MANDATORY_TTL,
                session_ttl_seconds=SESSION_TTL,
                refresh=False,
                deadline=Deadline(TIMEOUT, self.clock),
            )
            outcome = self.cache(n).obtain(request, self.log_in)
            self.local_expiration[n] = outcome.credential.expiration
            self.schedule(n)

        return get

    def schedule(self, n: int) -> None:
        """Queue host ``n``'s next invocation that is not a local fresh hit: the first minute
        at which its entry is no longer ``fresh`` (the state only ages: a binary search)."""
        expiration = self.local_expiration[n]
        low, high = self.minute + 1, self.minutes
        if expiration is None:
            high = low
        while low < high:
            middle = (low + high) // 2
            at = START + middle * 60 + self.offsets[n]
            if self.windows[n].state(expiration or 0, at) == FRESH:
                low = middle + 1
            else:
                high = middle
        if low < self.minutes:
            self.due.setdefault(low, []).append(n)

    def log_in(self, *, patient: bool = True) -> Credential:
        sent_at = self.clock.time()
        self.clock.sleep(LOGIN_SECONDS)
        self.logins.append(sent_at)
        issued_at = int(sent_at)
        return Credential(
            access_token=f"00Dxx0000000001!simulated.{len(self.logins)}",
            token_type="Bearer",  # noqa: S106 - not a secret
            instance_url="https://acme.my.salesforce.com",
            id_url="https://login.salesforce.com/id/00Dxx0000000001AAA/005xx0000000001AAA",
            org_id="00Dxx0000000001AAA",
            username=IDENTITY.username,
            scope="api",
            issued_at=issued_at,
            expiration=issued_at + SESSION_TTL,
        )

    def report(self, elapsed: float) -> dict[str, Any]:
        table = self.table
        steady = START + STEADY_AFTER_SECONDS
        return {
            "jitter": self.jitter,
            "invocations": "cron at :00" if self.spread_seconds <= 1 else "spread over the minute",
            "peak_reads_per_second": _peak(table.reads),
            "peak_writes_per_second": _peak(table.writes),
            "steady_peak_reads_per_second": _peak(table.reads, since=steady),
            "steady_peak_writes_per_second": _peak(table.writes, since=steady),
            "seconds_over_read_limit": sum(
                1 for n in table.reads.values() if n > READ_LIMIT_PER_SECOND
            ),
            "seconds_over_write_limit": sum(
                1 for n in table.writes.values() if n > WRITE_LIMIT_PER_SECOND
            ),
            "reads": sum(table.reads.values()),
            "writes": sum(table.writes.values()),
            "failed_conditional_writes": table.failed_conditional_writes,
            "kms_calls": table.calls.get("decrypt", 0) + table.calls.get("encrypt", 0),
            "throttled_calls": table.throttled,
            "logins": len(self.logins),
            "invocations_run": self.invocations_run,
            "local_fresh_hits_not_run": self.local_hits_skipped,
            "wall_seconds": round(elapsed, 1),
        }


def _peak(per_second: Counter[int], since: float = 0) -> dict[str, Any]:
    counts = [(n, second) for second, n in per_second.items() if second >= since]
    if not counts:
        return {"count": 0}
    count, second = max(counts, key=lambda pair: (pair[0], -pair[1]))
    return {"count": count, "at": _clock_time(second)}


def _clock_time(second: float) -> str:
    elapsed = int(second - START)
    return f"{elapsed // 3600:02d}:{elapsed % 3600 // 60:02d}:{elapsed % 60:02d}"


def simulate(
    hosts: int,
    minutes: int,
    seed: int,
    jitter: bool,
    spread: float,
    cpu: int | None = None,
    throttle: bool = False,
) -> dict[str, Any]:
    """One fleet, start to end, in a temporary directory (in memory where possible). On one
    ``cpu`` when given: the simulated processes hand the turn to each other twice as fast there."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    memory = "/dev/shm"  # noqa: S108 - a tmpfs; mkdtemp makes a private directory in it
    shm = memory if os.path.isdir(memory) else None
    work = Path(tempfile.mkdtemp(prefix="sf-credproc-scale-", dir=shm))
    try:
        started = time.perf_counter()
        fleet = Fleet(hosts, jitter, spread, seed, work, minutes, throttle)
        fleet.run()
        return fleet.report(time.perf_counter() - started)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--workers", type=int, default=4, help="processes (one per fleet)")
    parser.add_argument(
        "--throttle",
        action="store_true",
        help="throttle calls beyond the limits, as DynamoDB would (the tier then fails over)",
    )
    options = parser.parse_args()
    minutes = int(options.hours * 60)
    fleets = [
        (jitter, spread) for jitter in (False, True) for spread in (START_UP_SPREAD_SECONDS, 60.0)
    ]
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [None]
    with ProcessPoolExecutor(max_workers=options.workers) as pool:
        runs = [
            pool.submit(
                simulate,
                options.hosts,
                minutes,
                options.seed,
                jitter,
                spread,
                # One fleet at :00 and one spread per CPU (the :00 fleets cost more).
                cpus[int(jitter) % len(cpus)],
                options.throttle,
            )
            for jitter, spread in fleets
        ]
        results = [run.result() for run in runs]
    print(
        json.dumps(
            {
                "hosts": options.hosts,
                "hours": options.hours,
                "throttled": options.throttle,
                "limits_per_partition": {
                    "reads_per_second": READ_LIMIT_PER_SECOND,
                    "writes_per_second": WRITE_LIMIT_PER_SECOND,
                },
                "fleets": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
