"""Cold ``get --no-cache`` against its floor (``floor_cold.py``), for ``file:`` and ``kms:`` keys.

Run it with the project and its test extra installed (``pip install '.[test]'``, not editable: an
editable install adds an import hook to every start-up):

    python benchmarks/bench_cold.py [--rounds 15] [--subject NAME=PATH/TO/sf-credproc ...]
                                    [--floor-python PATH/TO/python]

Each ``--subject`` is an installed ``sf-credproc`` (another virtualenv's, for a before/after of two
trees); the default is the one beside this interpreter. The floor and ``python -c pass`` run with
``--floor-python`` (default: the first subject's interpreter, so that all start alike). Salesforce is the emulator on loopback
(plain http, in this process), KMS is moto's server (``ThreadedMotoServer``). One round runs the
bare interpreter, the floor and every subject once for each key source, in turn, so that machine
noise hits them all alike. The figures are medians of whole processes, the peak memory of three
runs each (GNU time), and where the time goes:

- ``interpreter``: ``python -c pass``;
- the floor three times: with the interpreter's usual exit; ending at once as sf-credproc ends a
  finished command (``os._exit`` after a flush; ``floor_cold.py``); and ending at once with the
  cyclic garbage collector off, as sf-credproc runs a one-shot command (``launch.is_one_shot``).
  The third is the like-for-like floor (``vs_floor_like_for_like_ms``): neither the teardown nor
  the collections are part of the work no design can avoid. ``paired_vs_floor_like_for_like_ms``
  is the median of each round's own difference, steadier on a machine whose speed drifts;
- ``imports``: a process importing what the command imports (the top-level modules of its
  ``-X importtime`` profile), less the interpreter; the floor times its own phases inside;
- ``work``: the rest (key, signing, exchange, and for sf-credproc settings and the cache);
- ``extra_imports``: the modules the command imports and the floor does not, by package, with
  their own import time under ``-X importtime`` (which inflates it; the ranking is what counts).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from bench_get import median_or_none, peak_rss_kib, timed
from bench_key_sources import kms_source
from common import throwaway_workspace

from sf_credproc.emulator import SalesforceEmulator

FLOOR = Path(__file__).with_name("floor_cold.py")
USERNAME = "bench@acme.example"
PHASES = ("imports_ms", "key_ms", "signing_ms", "exchange_ms")


def interpreter_of(script: Path) -> str:
    """The Python a console script runs with (its ``#!`` line)."""
    first = script.read_text().splitlines()[0]
    return first[2:].strip() if first.startswith("#!") else sys.executable


def import_profile(command: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, int]]:
    """One run under ``-X importtime``: the modules imported at the outermost level, in order
    (importing them again in a bare process costs what the command's imports cost, without the
    profiler's overhead), and every module's own import time in microseconds."""
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"{command[:3]} failed under -X importtime: {done.stderr[-2000:]}")
    top: list[str] = []
    own: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, _, name = line[len("import time:") :].split("|")
            own[name.strip()] = int(self_us)
            if name[1:2] != " ":  # one space after the bar: not nested in another import
                top.append(name.strip())
    startup = ("encodings", "_", "site", "zipimport")
    return [name for name in top if not name.startswith(startup)], own


def extra_imports(
    subject: dict[str, int], floor: dict[str, int], top: int = 10
) -> dict[str, object]:
    """What the subject imports beyond the floor, summed by top-level package."""
    extra = {name: us for name, us in subject.items() if name not in floor}
    by_package: Counter[str] = Counter()
    for name, us in extra.items():
        by_package[name.split(".")[0]] += us
    return {
        "modules": len(extra),
        "self_ms_under_importtime": round(sum(extra.values()) / 1000, 1),
        "by_package_ms": {name: round(us / 1000, 1) for name, us in by_package.most_common(top)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15, help="rounds [15]")
    parser.add_argument(
        "--subject",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="an installed sf-credproc to measure (repeatable) [this environment's]",
    )
    parser.add_argument("--rss-runs", type=int, default=3, help="peak-memory runs of each [3]")
    parser.add_argument("--floor-python", help="the Python of the floor [the first subject's]")
    options = parser.parse_args()
    subjects = dict(item.split("=", 1) for item in options.subject) or {
        "sf-credproc": str(Path(sys.executable).with_name("sf-credproc"))
    }
    python = options.floor_python or interpreter_of(Path(next(iter(subjects.values()))))
    with throwaway_workspace("sf-credproc-bench-cold-") as (work, key_path, public):
        results = measure(
            options.rounds, subjects, python, work, key_path, public, rss_runs=options.rss_runs
        )
        print(json.dumps(results, indent=2))


def measure(
    rounds: int,
    subjects: dict[str, str],
    floor_python: str,
    work: Path,
    key_path: Path,
    public: bytes,
    *,
    rss_runs: int = 3,
) -> dict[str, object]:
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "XDG_CACHE_HOME": str(work / "cache"),
        "XDG_CONFIG_HOME": str(work / "config"),
        "LANG": "C.UTF-8",
    }
    with ExitStack() as stack:
        kms_uri, aws_env, kms_public = stack.enter_context(kms_source(work))
        emulator = stack.enter_context(SalesforceEmulator())
        emulator.login_limit_per_hour = 10**9
        emulator.add_user(USERNAME, approve=["3MVG9cold.file", "3MVG9cold.kms"])
        emulator.register_app("3MVG9cold.file", public)
        emulator.register_app("3MVG9cold.kms", kms_public)
        token_url = emulator.url + "/services/oauth2/token"
        sources = {
            "file": ("3MVG9cold.file", f"file:{key_path}", str(key_path), base_env),
            "kms": ("3MVG9cold.kms", kms_uri, kms_uri.partition(":")[2], {**base_env, **aws_env}),
        }
        baseline = [floor_python, "-c", "pass"]
        # name -> (command, environment); the floor of each source first, then each subject.
        commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        for source, (client_id, uri, key_ref, env) in sources.items():
            floor = [floor_python, str(FLOOR), source, key_ref, token_url, emulator.url]
            commands[f"{source}/floor"] = ([*floor, client_id, USERNAME], env)
            for name, exe in subjects.items():
                get = [
                    exe, "get", "--no-cache", "--client-id", client_id, "--username", USERNAME,
                    "--login-url", emulator.url, "--key", uri,
                ]  # fmt: skip
                commands[f"{source}/{name}"] = (get, env)
        for command, env in commands.values():
            timed(command, env)  # warm the disk cache; fails loudly if anything is broken
        # A process importing what each subject's command imports, timed in the same rounds.
        import_only: dict[str, tuple[list[str], dict[str, str]]] = {}
        profiles: dict[str, dict[str, int]] = {}
        for name, (command, env) in commands.items():
            # The floor is run by its Python; a subject is a console script with its own.
            python = command[0] if name.endswith("/floor") else interpreter_of(Path(command[0]))
            profiled = command if name.endswith("/floor") else [python, *command]
            modules, profiles[name] = import_profile(profiled, env)
            import_only[name] = ([python, "-c", "import " + ", ".join(modules)], env)
        import_seconds: dict[str, list[float]] = {name: [] for name in import_only}

        ending_at_once = {"SF_CREDPROC_FLOOR_EXIT_NOW": "1"}
        like_for_like = {**ending_at_once, "SF_CREDPROC_FLOOR_NO_GC": "1"}
        seconds: dict[str, list[float]] = {
            name: []
            for name in [
                "interpreter",
                *commands,
                "file/floor skipping the RSA key check",
                *(f"{source}/floor ending at once" for source in sources),
                *(f"{source}/floor like for like" for source in sources),
            ]
        }
        skip_key_ms: list[float] = []
        floor_phases: dict[str, dict[str, list[float]]] = {
            source: {phase: [] for phase in PHASES} for source in sources
        }
        for _ in range(rounds):
            elapsed, _ = timed(baseline, base_env)
            seconds["interpreter"].append(elapsed)
            for name, (command, env) in commands.items():
                elapsed, out = timed(command, env)
                seconds[name].append(elapsed)
                source, _, who = name.partition("/")
                if who == "floor":
                    for phase, value in json.loads(out).items():
                        floor_phases[source][phase].append(value)
                else:
                    assert json.loads(out)["Username"] == USERNAME
                import_seconds[name].append(timed(*import_only[name])[0])
            # The floor without the interpreter's teardown, as sf-credproc ends (like for like).
            for source in sources:
                command, env = commands[f"{source}/floor"]
                elapsed, _ = timed(command, {**env, **ending_at_once})
                seconds[f"{source}/floor ending at once"].append(elapsed)
                elapsed, _ = timed(command, {**env, **like_for_like})
                seconds[f"{source}/floor like for like"].append(elapsed)
            # What skipping the RSA key check would save (README: validation is kept).
            command, env = commands["file/floor"]
            skipping, out = timed(command, {**env, "SF_CREDPROC_FLOOR_SKIP_RSA_VALIDATION": "1"})
            seconds["file/floor skipping the RSA key check"].append(skipping)
            skip_key_ms.append(json.loads(out)["key_ms"])

        interpreter_ms = statistics.median(seconds["interpreter"]) * 1000
        results: dict[str, object] = {
            "python": sys.version.split()[0],
            "rounds": rounds,
            "load_average": os.getloadavg(),
            "interpreter_ms": round(interpreter_ms, 1),
            "interpreter_peak_rss_kib": median_or_none(
                [peak_rss_kib(baseline, base_env) for _ in range(rss_runs)]
            ),
        }
        for source in sources:
            floor_command, env = commands[f"{source}/floor"]
            floor_ms = statistics.median(seconds[f"{source}/floor"]) * 1000
            at_once_ms = statistics.median(seconds[f"{source}/floor ending at once"]) * 1000
            like_ms = statistics.median(seconds[f"{source}/floor like for like"]) * 1000
            floor_modules = profiles[f"{source}/floor"]
            row: dict[str, object] = {
                "floor": {
                    "total_ms": round(floor_ms, 1),
                    "ending_at_once_ms": round(at_once_ms, 1),
                    "like_for_like_ms": round(like_ms, 1),
                    "peak_rss_kib_ending_at_once": median_or_none(
                        [
                            peak_rss_kib(floor_command, {**env, **ending_at_once})
                            for _ in range(rss_runs)
                        ]
                    ),
                    "peak_rss_kib": median_or_none(
                        [peak_rss_kib(floor_command, env) for _ in range(rss_runs)]
                    ),
                    **{
                        phase: round(statistics.median(values), 1)
                        for phase, values in floor_phases[source].items()
                    },
                    "imports_by_import_only_process_ms": round(
                        statistics.median(import_seconds[f"{source}/floor"]) * 1000
                        - interpreter_ms,
                        1,
                    ),
                }
            }
            for name in subjects:
                command, env = commands[f"{source}/{name}"]
                total_ms = statistics.median(seconds[f"{source}/{name}"]) * 1000
                import_ms = statistics.median(import_seconds[f"{source}/{name}"]) * 1000
                row[name] = {
                    "total_ms": round(total_ms, 1),
                    "vs_floor_ms": round(total_ms - floor_ms, 1),
                    "vs_floor_ending_at_once_ms": round(total_ms - at_once_ms, 1),
                    "vs_floor_like_for_like_ms": round(total_ms - like_ms, 1),
                    # The same gap as the median of each round's own difference: machine noise
                    # that comes and goes over a run cancels out within a round.
                    "paired_vs_floor_like_for_like_ms": round(
                        1000
                        * statistics.median(
                            subject - floor
                            for subject, floor in zip(
                                seconds[f"{source}/{name}"],
                                seconds[f"{source}/floor like for like"],
                                strict=True,
                            )
                        ),
                        1,
                    ),
                    "peak_rss_kib": median_or_none(
                        [peak_rss_kib(command, env) for _ in range(rss_runs)]
                    ),
                    "imports_ms": round(import_ms - interpreter_ms, 1),
                    "work_ms": round(total_ms - import_ms, 1),
                    "extra_imports": extra_imports(profiles[f"{source}/{name}"], floor_modules),
                }
            if source == "file":
                row["floor_skipping_rsa_key_check"] = {
                    "total_ms": round(
                        statistics.median(seconds["file/floor skipping the RSA key check"]) * 1000,
                        1,
                    ),
                    "key_ms": round(statistics.median(skip_key_ms), 1),
                }
            results[source] = row
        return results


if __name__ == "__main__":
    main()
