"""``exec -- /bin/true`` on a cache hit, side by side with ``get`` on a hit and the bare interpreter.

    python benchmarks/bench_exec.py [--baseline OTHER/bin/sf-credproc] [--rounds 100]

Run it with the project installed (``pip install .``, not editable: an editable install adds an
import hook to every start-up) in the same environment. Everything runs on loopback: the
Salesforce emulator (plain http, in this process) and the installed ``sf-credproc`` as
subprocesses with a clean environment. Every round runs each command once, in turn, so that
machine noise hits all alike; the table gives the medians of whole processes and each one's peak
resident memory (GNU time, median of 5).

The rows:

* ``python -c pass``: the floor, the interpreter alone;
* ``get`` on a hit: the cache-hit fast path;
* ``exec -- /bin/true`` on a hit: the fast path, which becomes ``/bin/true`` (its start included);
* the same ``exec`` answered by the full command on a hit: ``--cache-dir`` names a directory
  other than the default one, where the fast path never keeps an index, so every run resolves the
  settings (argparse, TOML, the cache module) as ``exec`` did before it had a fast path;
* with ``--baseline``, ``exec -- /bin/true`` on a hit by another installation (the release before,
  in its own virtual environment), from its own cache directory.

Fails if any hit logged in, or if the subject's ``exec`` hit did not take the fast path.
"""

from __future__ import annotations

import argparse
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
TRUE = "/bin/true"


def run(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one process, which must succeed."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[:2]} failed ({done.returncode}): {done.stderr.decode()}")
    return elapsed


def peak_rss_kib(command: list[str], env: dict[str, str]) -> int | None:
    """Peak resident memory of one process, by GNU time (a small C parent: a child forked from
    this Python process would count this process's memory as its own before exec)."""
    if not os.path.exists(GNU_TIME):
        return None
    done = subprocess.run(
        [GNU_TIME, "-f", "%M", *command], env=env, capture_output=True, text=True, check=True
    )
    return int(done.stderr.strip().splitlines()[-1])


def takes_the_fast_path(command: list[str], env: dict[str, str]) -> bool:
    """True when ``command`` (the subject's) is answered without loading the full command."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *command],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return "sf_credproc.cli.main" not in done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", help="the console script of another installation")
    parser.add_argument("--rounds", type=int, default=100, help="rounds [100]")
    options = parser.parse_args()
    with (
        throwaway_workspace("sf-credproc-bench-exec-") as (work, key_path, public),
        SalesforceEmulator() as emulator,
    ):
        emulator.register_app(CLIENT_ID, public)
        emulator.add_user(USERNAME, approve=[CLIENT_ID])
        emulator.login_limit_per_hour = 10**9
        settings = [
            "--client-id", CLIENT_ID, "--username", USERNAME,
            "--login-url", emulator.url, "--key", f"file:{key_path}",
        ]  # fmt: skip
        commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        installations = {"subject": str(EXE)}
        if options.baseline:
            installations["baseline"] = options.baseline
        for name, exe in installations.items():
            home = work / name
            home.mkdir()
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(home),
                "XDG_CACHE_HOME": str(home / "cache"),
                "XDG_CONFIG_HOME": str(home / "config"),
                "LANG": "C.UTF-8",
            }
            if name == "subject":
                commands["python -c pass"] = ([sys.executable, "-c", "pass"], env)
                commands["get, hit"] = ([exe, "get", *settings], env)
                commands["exec -- /bin/true, hit"] = ([exe, "exec", *settings, "--", TRUE], env)
                elsewhere = ["--cache-dir", str(home / "elsewhere")]
                commands["exec -- /bin/true, hit, full command"] = (
                    [exe, "exec", *settings, *elsewhere, "--", TRUE],
                    env,
                )
            else:
                commands["exec -- /bin/true, hit, baseline"] = (
                    [exe, "exec", *settings, "--", TRUE],
                    env,
                )
        for command, env in commands.values():
            run(command, env)  # fill the caches and the indexes
            run(command, env)
        exec_hit, exec_env = commands["exec -- /bin/true, hit"]
        if not takes_the_fast_path(exec_hit, exec_env):
            raise SystemExit("the subject's exec hit took the full command: the comparison is void")
        logins = emulator.token_request_count
        seconds: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(options.rounds):
            for name, (command, env) in commands.items():
                seconds[name].append(run(command, env))
        memory = {
            name: [peak_rss_kib(command, env) for _ in range(5)]
            for name, (command, env) in commands.items()
        }
        if emulator.token_request_count != logins:
            raise SystemExit("a cache hit logged in: the comparison is void")
    medians = {name: statistics.median(values) * 1000 for name, values in seconds.items()}
    get = medians["get, hit"]
    bare = medians["python -c pass"]
    print(
        f"| process ({options.rounds} rounds, medians) | ms | ratio to get | ratio to python | peak RSS KiB |"
    )
    print("|---|---|---|---|---|")
    for name, median in medians.items():
        measured = [kib for kib in memory[name] if kib is not None]
        rss = f"{int(statistics.median(measured)):,}" if measured else "n/a"
        print(f"| {name} | {median:.2f} | {median / get:.2f} | {median / bare:.2f} | {rss} |")
    load = os.getloadavg()
    print(f"| machine | Python {sys.version.split()[0]}, {os.cpu_count()} cores, "
          f"load {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min) |")  # fmt: skip


if __name__ == "__main__":
    main()
