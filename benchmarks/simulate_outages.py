"""A day of outages: logins and failed ``get``s of a cron fleet, the old refresh rule vs the windows.

N hosts (8) run ``get`` from cron every minute for 24 simulated hours, each with a local cache of
its own and its own host name (so its own jitter), through the real credential pipeline
(``CredentialPipeline``: cache, key, signing, the token exchange over loopback HTTP) on a simulated
clock. Two fleets run side by side in one loop, each against an emulated org of its own:

* **old**: ``--mandatory-ttl`` equal to ``--min-ttl`` (900 s): one window, as before the refresh
  windows; a refresh that fails there fails the ``get``;
* **new**: the defaults, an advisory window of 900 s (plus up to 10 % per host) and a mandatory
  one of 300 s: a refresh that fails transiently in the advisory window serves the cached token.

Salesforce is unavailable (HTTP 503, its maintenance page) for two windows of 20 minutes, and answers
"login rate exceeded" for one window of 30 minutes (the org's login limit set to 0). The windows are
options, in hours and minutes from the start. The defaults are placed on the fleet's refresh
schedule (the same in both fleets until one fails): the first outage starts as the tokens enter the
advisory window, the second ends as they enter the mandatory window, and the rate limit starts at
an advisory window and outlasts the tokens. An outage in the middle of a session costs nothing in
either fleet. With the login-rate circuit breaker (``cache/cooldown.py``), a
cool-down follows "login rate exceeded"; without it, each ``get`` asks again. The JSON says which.

    python benchmarks/simulate_outages.py [--hosts 8] [--hours 24]

Deterministic: the clock is simulated and the retries' jitter seeded. Prints JSON per fleet:
logins (successful token requests), token requests (all; those answered 503 in an outage; those
refused as "login rate exceeded", the only refusal here), failed gets
(by exit status) and when they happened, and gets served from the cache (and, of those, after a
failed refresh, with a ``warning:``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import throwaway_workspace

from sf_credproc.compose import CredentialPipeline
from sf_credproc.config.settings import resolve_keywords
from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.emulator.handler import TOKEN_PATH, Connection
from sf_credproc.emulator.org import LOGINS_PER_USER_PER_HOUR
from sf_credproc.errors import CredProcError

CLIENT_ID = "3MVG9outage.simulation"
USERNAME = "cron@acme.example"
START = 1_899_999_960  # a whole minute
MIN_TTL = 900
NEW_MANDATORY_TTL = 300
OUTAGE_MINUTES = 20
RATE_LIMIT_MINUTES = 30
MAINTENANCE_PAGE = (
    b"<html><head><title>Salesforce is down for maintenance</title></head><body>"
    b"Salesforce is temporarily unavailable. Please try again later.</body></html>"
)


class SimulatedClock:
    """The ``Clock`` of every simulated ``get`` and of the emulated orgs: set to each ``get``'s
    start; a retry's backoff moves it on at once."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


class OutageEmulator(SalesforceEmulator):
    """An org whose token endpoint answers 503 with the maintenance page during ``outages``."""

    def __init__(self, outages: list[tuple[float, float]], **kwargs: Any) -> None:
        self.outages = outages
        self.maintenance_answers = 0
        super().__init__(**kwargs)

    def intercept(self, path: str, connection: Connection) -> bool:
        if path != TOKEN_PATH or not any(
            start <= self.clock() < end for start, end in self.outages
        ):
            return False
        with self.lock:
            self.maintenance_answers += 1
        connection.send(503, MAINTENANCE_PAGE, "text/html; charset=UTF-8")
        return True


class WarningCounter(logging.Handler):
    """Counts the ``warning:`` lines the command line would print (the library's warnings)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@dataclass
class Fleet:
    """One behaviour's hosts, org and tallies."""

    name: str
    org: OutageEmulator
    pipelines: list[CredentialPipeline]
    gets: int = 0
    served_from_cache: int = 0
    kept_after_failed_refresh: int = 0
    failures_by_exit: Counter[int] = field(default_factory=Counter)
    failures_by_minute: Counter[int] = field(default_factory=Counter)
    failures_by_error: Counter[str] = field(default_factory=Counter)
    logins_by_minute: Counter[int] = field(default_factory=Counter)

    def logins(self) -> int:
        return sum(1 for request in self.org.token_requests if request.status == 200)

    def token_requests(self) -> int:
        return self.org.token_request_count + self.org.maintenance_answers

    def report(self) -> dict[str, Any]:
        return {
            "fleet": self.name,
            "gets": self.gets,
            "logins": self.logins(),
            "token_requests": self.token_requests(),
            "token_requests_answered_503": self.org.maintenance_answers,
            "token_requests_refused_login_rate": sum(
                1 for request in self.org.token_requests if request.status == 400
            ),
            "failed_gets": sum(self.failures_by_exit.values()),
            "failed_gets_by_exit_status": dict(sorted(self.failures_by_exit.items())),
            "failed_gets_by_error": dict(sorted(self.failures_by_error.items())),
            "failures_at": _ranges(self.failures_by_minute, "failed gets"),
            "logins_at": _ranges(self.logins_by_minute, "logins"),
            "served_from_cache": self.served_from_cache,
            "served_after_a_failed_refresh": self.kept_after_failed_refresh,
        }


def _ranges(by_minute: Counter[int], what: str) -> list[str]:
    """Runs of minutes with events: "07:01-07:12: 61 failed gets" (times from the start)."""
    runs: list[list[int]] = []
    for minute in sorted(by_minute):
        if runs and runs[-1][-1] == minute - 1:
            runs[-1].append(minute)
        else:
            runs.append([minute])
    return [
        f"{_hhmm(run[0])}-{_hhmm(run[-1] + 1)}: {sum(by_minute[m] for m in run)} {what}"
        for run in runs
    ]


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _minute_of(text: str) -> int:
    hours, _, minutes = text.partition(":")
    return int(hours) * 60 + int(minutes or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument(
        "--outage",
        action="append",
        metavar="HH:MM",
        help=f"start of a {OUTAGE_MINUTES}-minute outage (twice; default 05:12 and 10:35)",
    )
    parser.add_argument(
        "--rate-limit",
        default="17:51",
        metavar="HH:MM",
        help=f"start of {RATE_LIMIT_MINUTES} minutes of 'login rate exceeded' (default 17:51)",
    )
    parser.add_argument("--seed", type=int, default=13)
    options = parser.parse_args()
    with throwaway_workspace("sf-credproc-outages-") as (work, key_path, public):
        print(json.dumps(simulate(options, work, key_path, public), indent=2))


def simulate(
    options: argparse.Namespace, work: Path, key_path: Path, public: bytes
) -> dict[str, Any]:
    random.seed(options.seed)  # the retries' backoff jitter
    clock = SimulatedClock(START)
    outages = [
        (START + _minute_of(at) * 60.0, START + (_minute_of(at) + OUTAGE_MINUTES) * 60.0)
        for at in (options.outage or ["05:12", "10:35"])
    ]
    limited = START + _minute_of(options.rate_limit) * 60.0
    rate_limited = (limited, limited + RATE_LIMIT_MINUTES * 60.0)
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work)}
    warnings = WarningCounter()
    library_log = logging.getLogger("sf_credproc")
    library_log.addHandler(warnings)
    fleets: list[Fleet] = []
    try:
        for name, mandatory_ttl in (("old", MIN_TTL), ("new", NEW_MANDATORY_TTL)):
            org = OutageEmulator(outages, clock=clock.time).start()
            org.register_app(CLIENT_ID, public)
            org.add_user(USERNAME, approve=[CLIENT_ID])
            pipelines = []
            for n in range(options.hosts):
                settings = resolve_keywords(
                    environ=environ,
                    client_id=CLIENT_ID,
                    username=USERNAME,
                    login_url=org.url,
                    key=f"file:{key_path}",
                    cache_dir=str(work / name / f"host-{n}"),
                    min_ttl=MIN_TTL,
                    mandatory_ttl=mandatory_ttl,
                )
                pipelines.append(
                    CredentialPipeline(settings, clock=clock, environ=environ, host=f"host-{n}")
                )
            fleets.append(Fleet(name, org, pipelines))
        for minute in range(int(options.hours * 60)):
            for fleet in fleets:
                for n, pipeline in enumerate(fleet.pipelines):
                    clock.now = START + minute * 60 + n  # each host's cron, a second apart
                    limit = rate_limited[0] <= clock.now < rate_limited[1]
                    fleet.org.login_limit_per_hour = 0 if limit else LOGINS_PER_USER_PER_HOUR
                    _get(fleet, pipeline, minute, warnings)
    finally:
        library_log.removeHandler(warnings)
        for fleet in fleets:
            fleet.org.stop()
    return {
        "hosts": options.hosts,
        "hours": options.hours,
        "outages": [_span(start, end) for start, end in outages],
        "rate_limit": _span(*rate_limited),
        "circuit_breaker": importlib.util.find_spec("sf_credproc.cache.cooldown") is not None,
        "fleets": [fleet.report() for fleet in fleets],
    }


def _get(fleet: Fleet, pipeline: CredentialPipeline, minute: int, warnings: WarningCounter) -> None:
    """One cron ``get``, tallied as the command would end: printed (exit 0) or an exit status."""
    logins_before = fleet.logins()
    requests_before = fleet.token_requests()
    warnings_before = warnings.count
    fleet.gets += 1
    try:
        pipeline.obtain()
    except CredProcError as error:
        fleet.failures_by_exit[int(error.exit_status)] += 1
        fleet.failures_by_minute[minute] += 1
        fleet.failures_by_error[type(error).__name__] += 1
        return
    if fleet.logins() > logins_before:
        fleet.logins_by_minute[minute] += 1
    else:
        fleet.served_from_cache += 1
        if fleet.token_requests() > requests_before or warnings.count > warnings_before:
            fleet.kept_after_failed_refresh += 1


def _span(start: float, end: float) -> str:
    return f"{_hhmm(int(start - START) // 60)}-{_hhmm(int(end - START) // 60)}"


if __name__ == "__main__":
    main()
