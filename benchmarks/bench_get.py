"""Benchmarks of ``sf-credproc get``: cache hit vs the bare interpreter, the cold path, a cold race.

Run it with the project installed (``pip install .``, not editable: an editable install adds an
import hook to every start-up) in the same environment:

    python benchmarks/bench_get.py [--rounds 40]

Everything runs on loopback: the Salesforce emulator (plain http, in this process) and the
installed ``sf-credproc`` as subprocesses with a clean environment. Times are medians over the
rounds; baseline and subject run interleaved in one loop so that machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import throwaway_workspace

from sf_credproc.emulator import SalesforceEmulator

EXE = Path(sys.executable).with_name("sf-credproc")
CLIENT_ID = "3MVG9benchmark.consumer.key"
USERNAME = "bench@acme.example"


GNU_TIME = "/usr/bin/time"


def timed(command: list[str], env: dict[str, str]) -> tuple[float, bytes]:
    """Wall seconds and stdout of one process."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({done.returncode}): {done.stderr.decode()}")
    return elapsed, done.stdout


def peak_rss_kib(command: list[str], env: dict[str, str]) -> int | None:
    """Peak resident memory of one process, measured by GNU time (a small C parent).

    A child forked from this (large) Python process would report this process's memory as its
    own peak, because Linux counts the pre-exec address space; GNU time's is a few hundred KiB.
    """
    if not os.path.exists(GNU_TIME):
        return None
    done = subprocess.run(
        [GNU_TIME, "-f", "%M", *command], env=env, capture_output=True, text=True, check=True
    )
    return int(done.stderr.strip().splitlines()[-1])


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def median_or_none(values: list[int | None]) -> int | None:
    measured = [v for v in values if v is not None]
    return int(statistics.median(measured)) if measured else None


def wrapper_imports_re() -> bool:
    """pip < 25.2 writes console-script wrappers that import re (pypa/pip#13166)."""
    return "import re" in EXE.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40, help="cache-hit rounds [40]")
    parser.add_argument("--cold-rounds", type=int, default=10, help="cold-path rounds [10]")
    parser.add_argument("--racers", type=int, default=32, help="processes in the cold race [32]")
    options = parser.parse_args()

    with throwaway_workspace("sf-credproc-bench-") as (work, key_path, public):
        measure(options, work, key_path, public)


def measure(options: argparse.Namespace, work: Path, key_path: Path, public: bytes) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "XDG_CACHE_HOME": str(work / "cache"),
        "XDG_CONFIG_HOME": str(work / "config"),
        "LANG": "C.UTF-8",
    }
    results: dict[str, object] = {
        "python": sys.version.split()[0],
        "wrapper_imports_re": wrapper_imports_re(),
    }
    with SalesforceEmulator() as emulator:
        emulator.register_app(CLIENT_ID, public)
        emulator.add_user(USERNAME, approve=[CLIENT_ID])
        emulator.login_limit_per_hour = 10**9
        get = [
            str(EXE), "get", "--client-id", CLIENT_ID, "--username", USERNAME,
            "--login-url", emulator.url, "--key", f"file:{key_path}",
        ]  # fmt: skip
        baseline = [sys.executable, "-c", "pass"]

        # 1. Cache hit vs the bare interpreter.
        timed(get, env)  # warm: one login, the entry and the fast-path index are written
        logins_before = emulator.token_request_count
        base_t, hit_t = [], []
        for _ in range(options.rounds):
            seconds, _ = timed(baseline, env)
            base_t.append(seconds)
            seconds, out = timed(get, env)
            hit_t.append(seconds)
            assert json.loads(out)["Username"] == USERNAME
        base_rss = [peak_rss_kib(baseline, env) for _ in range(5)]
        hit_rss = [peak_rss_kib(get, env) for _ in range(5)]
        assert emulator.token_request_count == logins_before, "a cache hit logged in"
        results["cache_hit"] = {
            "python_c_pass_ms": round(median_ms(base_t), 2),
            "sf_credproc_get_hit_ms": round(median_ms(hit_t), 2),
            "ratio": round(statistics.median(hit_t) / statistics.median(base_t), 3),
            "python_c_pass_peak_rss_kib": median_or_none(base_rss),
            "sf_credproc_get_hit_peak_rss_kib": median_or_none(hit_rss),
            "rounds": options.rounds,
        }

        # 2. The cold path (--no-cache: a full login each time) and where its time goes.
        cold_t, import_t, start_t = [], [], []
        imports = [
            sys.executable,
            "-c",
            # Everything a file-key login loads, lazily imported libraries included.
            "import sf_credproc.cli.main, sf_credproc.compose, sf_credproc.login, requests, jwt, "
            "cryptography.hazmat.primitives.serialization",
        ]
        for _ in range(options.cold_rounds):
            seconds, _ = timed(baseline, env)
            start_t.append(seconds)
            seconds, _ = timed(imports, env)
            import_t.append(seconds)
            seconds, _ = timed([*get, "--no-cache"], env)
            cold_t.append(seconds)
        cold_rss = [peak_rss_kib([*get, "--no-cache"], env) for _ in range(3)]
        signing, exchange = in_process_steps(key_path, emulator, options.cold_rounds)
        results["cold"] = {
            "sf_credproc_get_no_cache_ms": round(median_ms(cold_t), 1),
            "peak_rss_kib": median_or_none(cold_rss),
            "interpreter_start_ms": round(median_ms(start_t), 1),
            "imports_ms": round(median_ms(import_t) - median_ms(start_t), 1),
            "key_load_and_sign_ms": round(median_ms(signing), 2),
            "exchange_ms": round(median_ms(exchange), 2),
            "rounds": options.cold_rounds,
        }

        # 3. A cold race: N processes on an empty cache at once.
        race_env = {**env, "XDG_CACHE_HOME": str(work / "race-cache")}
        before = emulator.token_request_count
        started = time.perf_counter()
        racers = [
            (time.perf_counter(), subprocess.Popen(get, env=race_env, stdout=subprocess.PIPE))
            for _ in range(options.racers)
        ]
        walls, tokens = [], set()
        for launched, process in racers:
            out, _ = process.communicate()
            walls.append(time.perf_counter() - launched)
            tokens.add(json.loads(out)["AccessToken"])
        results["cold_race"] = {
            "processes": options.racers,
            "token_requests": emulator.token_request_count - before,
            "distinct_tokens": len(tokens),
            "slowest_process_ms": round(max(walls) * 1000, 1),
            "all_done_ms": round((time.perf_counter() - started) * 1000, 1),
        }
    print(json.dumps(results, indent=2))


def in_process_steps(
    key_path: Path, emulator: SalesforceEmulator, rounds: int
) -> tuple[list[float], list[float]]:
    """Key loading plus signing, and the token exchange alone, timed inside one process."""
    from sf_credproc.clock import SystemClock
    from sf_credproc.deadline import Deadline
    from sf_credproc.keys.pem import load_rsa_private_key
    from sf_credproc.oauth.assertion import build_claims, sign_assertion
    from sf_credproc.oauth.exchange import ExchangeContext, exchange_assertion

    signing, exchange = [], []
    context = ExchangeContext(
        emulator.url + "/services/oauth2/token", USERNAME, CLIENT_ID, emulator.url
    )
    for _ in range(rounds):
        started = time.perf_counter()
        key = load_rsa_private_key(key_path.read_bytes(), where="bench")
        claims = build_claims(
            client_id=CLIENT_ID, username=USERNAME, audience=emulator.url, now=time.time()
        )
        assertion = sign_assertion(key, claims)
        signing.append(time.perf_counter() - started)
        started = time.perf_counter()
        exchange_assertion(
            assertion,
            context,
            deadline=Deadline(30, SystemClock()),
            ca_bundle=None,
            user_agent="bench",
        )
        exchange.append(time.perf_counter() - started)
    return signing, exchange


if __name__ == "__main__":
    main()
