"""The endpoint measured: ``GET /credential`` from a ``serve`` process beside ``get`` cache hits.

Run it with the project installed (``pip install .``, not editable: an editable install adds an
import hook to every start-up, which the ``get`` rows would pay) in the same environment:

    python benchmarks/bench_serve.py [--rounds 5] [--seconds 10] [--clients 64] [--quick]

Everything runs on loopback against one Salesforce emulator (plain http, in this process):

* ``sf-credproc serve`` as a subprocess (a ``file:`` key, an empty cache, authorization and the
  access log on, its stderr to a file) driven by ``load_generator.py``: ``--clients`` keep-alive
  connections in one asyncio process, each request carrying ``Host`` and ``Authorization``, every
  response checked (200, the same access token). Each round opens the connections, warms up, then
  measures for ``--seconds``; the figures are medians over the rounds. The emulator counts the
  logins: the serve process must make exactly one, at its start.
* the same load generator against a minimal asyncio server (one prebuilt response per request
  head, no parsing): the generator's own ceiling on this machine, so that a server figure well
  below it is the server's and not the generator's. CPU use of both sides is shown too.
* ``sf-credproc get`` cache hits, one process per credential (what a program pays shelling out),
  and ``python -c pass`` as the floor: one at a time for the latency, and one per core at once for
  the throughput. They run in every round, interleaved with the rest, so machine noise hits all.
* the serve process's memory (``/proc/PID/status``): VmRSS after 1,000 and after 100,000 requests,
  and its peak (VmHWM) at the end.

``--profile FILE`` runs the serve process under ``cProfile``, timed by CPU time, and writes FILE
when SIGTERM ends the server (``python -m pstats FILE``): where the server's time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import secrets
import select
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench_get import timed
from common import throwaway_workspace
from load_generator import LoadGenerator, Result

from sf_credproc.emulator import SalesforceEmulator

EXE = Path(sys.executable).with_name("sf-credproc")
LOAD_GENERATOR = Path(__file__).with_name("load_generator.py")
CLIENT_ID = "3MVG9benchmark.consumer.key"
USERNAME = "bench@acme.example"
CORES = os.cpu_count() or 1
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    """One measured load run and the CPU both sides used in it."""

    result: Result
    token: str | None  # the access token every response carried
    server_cpu: float  # share of one core, 1.0 = 100 %
    generator_cpu: float


@dataclass
class Options:
    rounds: int
    seconds: float
    warmup: float
    clients: int
    get_calls: int
    memory_marks: tuple[int, int]
    profile: str | None
    json: bool


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds [5]")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds a round [10]")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds a round [2]")
    parser.add_argument("--clients", type=int, default=64, help="keep-alive connections [64]")
    parser.add_argument("--get-calls", type=int, default=20, help="get calls a round [20]")
    parser.add_argument("--quick", action="store_true", help="a smoke test: tiny, seconds long")
    parser.add_argument("--profile", metavar="FILE", help="run serve under cProfile into FILE")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    if args.quick:
        return Options(
            1, 0.5, 0.2, min(args.clients, 16), 2, (1_000, 3_000), args.profile, args.json
        )
    return Options(
        args.rounds,
        args.seconds,
        args.warmup,
        args.clients,
        args.get_calls,
        (1_000, 100_000),
        args.profile,
        args.json,
    )


#: Runs the command as the console script does, under cProfile timed by the main thread's CPU
#: time (not the wall clock: on a shared machine a wall-clock profile charges the time the process
#: waited for a core to whatever system call it was in), and writes the profile when it returns.
PROFILER = """
import cProfile, sys, time
from sf_credproc.launch import main
out, sys.argv = sys.argv[1], ["sf-credproc", *sys.argv[2:]]
profiler = cProfile.Profile(time.thread_time)
try:
    status = profiler.runcall(main)
finally:
    profiler.dump_stats(out)
sys.exit(status)
"""


# -- the processes -------------------------------------------------------------------------------


def read_line(stream: IO[bytes], timeout: float, what: str) -> str:
    """The first line a child prints, within ``timeout`` seconds."""
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise SystemExit(f"bench_serve: {what} printed nothing within {timeout:.0f} s")
    line = stream.readline().decode().strip()
    if not line:
        raise SystemExit(f"bench_serve: {what} exited before printing its address")
    return line


@contextmanager
def child(
    command: list[str], env: dict[str, str], stderr: IO[bytes] | None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process, ended with SIGTERM (then SIGKILL) on the way out whatever happens."""
    process = subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        assert process.stdout is not None
        process.stdout.close()


def wait_ready(url: str, timeout: float = 60.0) -> float:
    """Poll ``/healthz`` until it says ready; the seconds that took."""
    host_port = url.split("/")[2]
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        connection = http.client.HTTPConnection(host_port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            if json.loads(connection.getresponse().read()).get("ready") is True:
                return time.perf_counter() - started
        except (OSError, ValueError):
            pass
        finally:
            connection.close()
        time.sleep(0.02)  # a benchmark's start-up poll, not a test's synchronisation
    raise SystemExit(f"bench_serve: the endpoint was not ready within {timeout:.0f} s")


def proc_status_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(value.split()[0])
    return values


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (``/proc/PID/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# -- the measurements ----------------------------------------------------------------------------


async def _load_round(
    url: str, token: str, options: Options, pid: int, *, distinct_heads: bool = False
) -> Round:
    generator = LoadGenerator(url, token, options.clients, distinct_heads=distinct_heads)
    await generator.open()
    try:
        await generator.run(seconds=options.warmup)
        server_before, own_before = cpu_seconds(pid), time.process_time()
        result = await generator.run(seconds=options.seconds)
        server_cpu = cpu_seconds(pid) - server_before
        own_cpu = time.process_time() - own_before
    finally:
        generator.close()
    return Round(result, generator.token, server_cpu / result.seconds, own_cpu / result.seconds)


def load_round(
    url: str, token: str, options: Options, pid: int, *, distinct_heads: bool = False
) -> Round:
    return asyncio.run(_load_round(url, token, options, pid, distinct_heads=distinct_heads))


async def _memory_marks(url: str, token: str, options: Options, pid: int) -> list[int]:
    """VmRSS after the first and the second mark's number of requests (counted from zero)."""
    generator = LoadGenerator(url, token, options.clients)
    await generator.open()
    marks, done = [], 0
    try:
        for mark in options.memory_marks:
            done += (await generator.run(requests=mark - done)).requests
            marks.append(proc_status_kib(pid)["VmRSS"])
    finally:
        generator.close()
    return marks


def get_calls(command: list[str], env: dict[str, str], calls: int, parallel: int) -> list[float]:
    """Wall seconds of each of ``calls`` processes, ``parallel`` at a time; the batch's wall last."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        walls = [seconds for seconds, _ in pool.map(lambda _: timed(command, env), range(calls))]
    return [*walls, time.perf_counter() - started]


def measure(options: Options, work: Path, key_path: Path, public: bytes) -> dict[str, Any]:
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "XDG_CONFIG_HOME": str(work / "config"),
        "LANG": "C.UTF-8",
    }
    load_at_start = os.getloadavg()[0]
    token = secrets.token_urlsafe(32)
    serve_env = {
        **base_env,
        "XDG_CACHE_HOME": str(work / "serve-cache"),
        "XDG_RUNTIME_DIR": str(work / "run"),
        "SF_CREDPROC_SERVER_TOKEN": token,
    }
    get_env = {**base_env, "XDG_CACHE_HOME": str(work / "get-cache")}
    (work / "run").mkdir(mode=0o700)
    access_log = work / "serve-stderr.log"
    with SalesforceEmulator() as emulator, access_log.open("wb") as log:
        emulator.register_app(CLIENT_ID, public)
        emulator.add_user(USERNAME, approve=[CLIENT_ID])
        emulator.login_limit_per_hour = 10**9
        settings = [
            "--client-id", CLIENT_ID, "--username", USERNAME,
            "--login-url", emulator.url, "--key", f"file:{key_path}",
        ]  # fmt: skip
        get = [str(EXE), "get", *settings]
        floor = [sys.executable, "-c", "pass"]
        timed(get, get_env)  # the get rows' one login: their cache is warm from here on

        serve = [str(EXE), "serve", *settings, "--listen", "127.0.0.1:0"]
        if options.profile:
            serve = [sys.executable, "-c", PROFILER, options.profile, *serve[1:]]
        logins_before = emulator.token_request_count
        with (
            child(serve, serve_env, log) as server,
            child(
                [sys.executable, str(LOAD_GENERATOR), "minimal-server"], base_env, None
            ) as minimal,
        ):
            assert server.stdout is not None
            assert minimal.stdout is not None
            url = read_line(server.stdout, 60, "sf-credproc serve")
            minimal_url = f"http://127.0.0.1:{read_line(minimal.stdout, 30, 'the minimal server')}/"
            ready_seconds = wait_ready(url)
            rss_marks = asyncio.run(_memory_marks(url, token, options, server.pid))
            logins_at_start = emulator.token_request_count - logins_before

            serve_rounds, distinct_rounds, minimal_rounds = [], [], []
            hit, hit_parallel, floor_one, floor_parallel = [], [], [], []
            for _ in range(options.rounds):
                before = emulator.token_request_count
                serve_rounds.append(load_round(url, token, options, server.pid))
                # Every head another: the server parses each one (its head cache never helps).
                distinct_rounds.append(
                    load_round(url, token, options, server.pid, distinct_heads=True)
                )
                if emulator.token_request_count != before:
                    raise SystemExit("bench_serve: the endpoint logged in again during a round")
                minimal_rounds.append(load_round(minimal_url, "unused", options, minimal.pid))
                for _ in range(options.get_calls):
                    floor_one.append(timed(floor, get_env)[0])
                    hit.append(timed(get, get_env)[0])
                floor_parallel.append(get_calls(floor, get_env, options.get_calls, CORES)[-1])
                hit_parallel.append(get_calls(get, get_env, options.get_calls, CORES)[-1])
            if len({r.token for r in [*serve_rounds, *distinct_rounds]}) != 1:
                raise SystemExit("bench_serve: the rounds were served different access tokens")
            memory = proc_status_kib(server.pid)
            serve_logins = emulator.token_request_count - logins_before
            server.send_signal(signal.SIGTERM)
            serve_status = server.wait(timeout=60)
    log_lines = access_log.read_bytes().count(b" /credential 200 ")
    # Warm-ups come on top of these: the access log has at least this many lines.
    served = options.memory_marks[-1] + sum(
        r.result.requests for r in [*serve_rounds, *distinct_rounds]
    )
    if log_lines < served:
        raise SystemExit(f"bench_serve: {log_lines} access log lines for {served} requests")
    return {
        "machine": {
            "cores": CORES,
            "python": sys.version.split()[0],
            # The machine may be shared: its load, as the run started and as it ended.
            "load_average_1min": [round(load_at_start, 2), round(os.getloadavg()[0], 2)],
        },
        "options": {
            "rounds": options.rounds,
            "seconds": options.seconds,
            "warmup": options.warmup,
            "clients": options.clients,
            "get_calls_per_round": options.get_calls,
        },
        "serve": summarise(serve_rounds)
        | {
            "logins": serve_logins,
            "logins_at_start": logins_at_start,
            "ready_seconds": round(ready_seconds, 2),
            "exit_status_on_sigterm": serve_status,
            "access_log_lines": log_lines,
            "requests_measured_or_counted": served,
        },
        "serve_distinct_heads": summarise(distinct_rounds),
        "minimal_server": summarise(minimal_rounds),
        "memory_kib": {
            "rss_after": dict(zip(map(str, options.memory_marks), rss_marks, strict=True)),
            "growth": rss_marks[1] - rss_marks[0],
            "rss_at_end": memory["VmRSS"],
            "peak_vmhwm": memory["VmHWM"],
        },
        "get_hit": calls_summary(hit, hit_parallel, options.get_calls),
        "python_c_pass": calls_summary(floor_one, floor_parallel, options.get_calls),
    }


def summarise(rounds: list[Round]) -> dict[str, Any]:
    def median(values: list[float], digits: int = 2) -> float:
        return round(statistics.median(values), digits)

    return {
        "requests_per_second": median([r.result.per_second for r in rounds], 0),
        "p50_ms": median([r.result.p50_ms for r in rounds]),
        "p99_ms": median([r.result.p99_ms for r in rounds]),
        "max_ms": median([r.result.max_ms for r in rounds]),
        "worst_p99_ms": round(max(r.result.p99_ms for r in rounds), 2),
        "requests_per_round": int(statistics.median(r.result.requests for r in rounds)),
        "server_cpu_percent": median([r.server_cpu * 100 for r in rounds], 0),
        # CPU per request: what the server costs whatever else the machine is doing.
        "server_cpu_us_per_request": median(
            [r.server_cpu * 1e6 / r.result.per_second for r in rounds], 1
        ),
        "generator_cpu_us_per_request": median(
            [r.generator_cpu * 1e6 / r.result.per_second for r in rounds], 1
        ),
        "generator_cpu_percent": median([r.generator_cpu * 100 for r in rounds], 0),
        "rounds_requests_per_second": [round(r.result.per_second) for r in rounds],
    }


def calls_summary(one_at_a_time: list[float], batches: list[float], calls: int) -> dict[str, Any]:
    median = statistics.median(one_at_a_time)
    return {
        "ms_per_call": round(median * 1000, 2),
        "requests_per_second_one_at_a_time": round(1 / median, 1),
        f"requests_per_second_{CORES}_at_once": round(calls / statistics.median(batches), 1),
        "calls": len(one_at_a_time),
    }


# -- the table -----------------------------------------------------------------------------------


def table(report: dict[str, Any]) -> str:
    serve, minimal, memory = report["serve"], report["minimal_server"], report["memory_kib"]
    hit, floor, machine = report["get_hit"], report["python_c_pass"], report["machine"]
    options = report["options"]
    at_once = f"requests_per_second_{machine['cores']}_at_once"
    first, second = memory["rss_after"]
    clients = options["clients"]
    start_load, end_load = machine["load_average_1min"]

    def load_row(name: str, figures: dict[str, Any]) -> str:
        return (
            f"| {name} | **{figures['requests_per_second']:,.0f}** req/s; p50 {figures['p50_ms']} ms,"
            f" p99 **{figures['p99_ms']}** ms (worst round {figures['worst_p99_ms']}), max"
            f" {figures['max_ms']} ms; CPU: server {figures['server_cpu_percent']:.0f} % of a core,"
            f" {figures['server_cpu_us_per_request']} µs a request; load generator"
            f" {figures['generator_cpu_percent']:.0f} %, {figures['generator_cpu_us_per_request']} µs |"
        )

    def calls_row(name: str, figures: dict[str, Any]) -> str:
        return (
            f"| {name} | {figures['ms_per_call']} ms per call, {figures['requests_per_second_one_at_a_time']}"
            f" req/s one at a time; {figures[at_once]} req/s {machine['cores']} at once |"
        )

    rows = [
        "| measurement | result |",
        "|---|---|",
        load_row(f"`GET /credential`, `serve`, {clients} keep-alive clients", serve),
        f"| logins seen by the emulator, the serve process's whole life | **{serve['logins']}**"
        f" (ready {serve['ready_seconds']} s after its address was printed; SIGTERM: exit"
        f" {serve['exit_status_on_sigterm']}; {serve['access_log_lines']:,} access log lines) |",
        load_row(
            f"the same, every request head another (`X-Request-Id: N`), {clients} clients",
            report["serve_distinct_heads"],
        ),
        load_row(f"a minimal asyncio server, same load generator, {clients} clients", minimal),
        calls_row("`sf-credproc get`, cache hit, one process per credential", hit),
        calls_row("`python -c pass`", floor),
        f"| serve RSS after {int(first):,} / {int(second):,} requests | {memory['rss_after'][first]:,}"
        f" / {memory['rss_after'][second]:,} KiB: growth **{memory['growth']:,} KiB**; peak (VmHWM)"
        f" {memory['peak_vmhwm']:,} KiB |",
        f"| machine | {machine['cores']} cores, Python {machine['python']}; load average"
        f" {start_load} at the start, {end_load} at the end; medians of {options['rounds']}"
        f" round(s) of {options['seconds']} s, each after {options['warmup']} s of warm-up |",
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    options = parse_options(argv)
    with throwaway_workspace("sf-credproc-bench-serve-") as (work, key_path, public):
        report = measure(options, work, key_path, public)
    print(json.dumps(report, indent=2) if options.json else table(report))


if __name__ == "__main__":
    main()
