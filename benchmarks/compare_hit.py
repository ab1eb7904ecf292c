"""Cache hits of two installations side by side, against the bare interpreter, in one loop.

    python benchmarks/compare_hit.py BASELINE_SF_CREDPROC [--rounds 200]

``BASELINE_SF_CREDPROC`` is the console script of another installation (an earlier release in its
own virtual environment); the subject is the ``sf-credproc`` beside this interpreter. Both serve
the same identity from their own cache directories, filled once; every round runs
``python -c pass``, the baseline and the subject, so machine noise hits all three alike. Prints the
medians and each one's ratio to the bare interpreter. Fails if any hit logged in.
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

CLIENT_ID = "3MVG9benchmark.consumer.key"
USERNAME = "bench@acme.example"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("baseline", help="the console script of the installation to compare with")
    parser.add_argument("--rounds", type=int, default=200, help="rounds [200]")
    options = parser.parse_args()
    subject = str(Path(sys.executable).with_name("sf-credproc"))
    with (
        throwaway_workspace("sf-credproc-compare-") as (work, key_path, public),
        SalesforceEmulator() as emulator,
    ):
        emulator.register_app(CLIENT_ID, public)
        emulator.add_user(USERNAME, approve=[CLIENT_ID])
        emulator.login_limit_per_hour = 10**9
        commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        for name, exe in (("baseline", options.baseline), ("subject", subject)):
            home = work / name
            home.mkdir()
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(home),
                "XDG_CACHE_HOME": str(home / "cache"),
                "XDG_CONFIG_HOME": str(home / "config"),
                "LANG": "C.UTF-8",
            }
            argv = [
                exe, "get", "--client-id", CLIENT_ID, "--username", USERNAME,
                "--login-url", emulator.url, "--key", f"file:{key_path}",
            ]  # fmt: skip
            subprocess.run(argv, env=env, check=True, capture_output=True)  # fill the cache
            commands[name] = (argv, env)
        commands["python -c pass"] = ([sys.executable, "-c", "pass"], commands["subject"][1])
        logins = len(emulator.token_requests)
        seconds: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(options.rounds):
            for name, (argv, env) in commands.items():
                started = time.perf_counter()
                subprocess.run(argv, env=env, check=True, capture_output=True)
                seconds[name].append(time.perf_counter() - started)
        if len(emulator.token_requests) != logins:
            raise SystemExit("a cache hit logged in: the comparison is void")
    medians = {name: statistics.median(values) * 1000 for name, values in seconds.items()}
    bare = medians["python -c pass"]
    for name, median in medians.items():
        print(f"{name:>15}: {median:7.2f} ms  ratio {median / bare:.3f}")


if __name__ == "__main__":
    main()
