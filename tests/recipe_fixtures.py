"""What the README's recipes assume of a reader's machine, arranged for a test: the profile ``prod``
in the config file, ``sf-credproc`` on ``PATH``, a job program standing in for the reader's own."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from helpers import CLIENT_ID, EXE, USERNAME

from sf_credproc.emulator import SalesforceEmulator

#: The variables a job run by ``exec`` finds; the stand-in job writes them to a file.
JOB_VARIABLES = ("SF_ACCESS_TOKEN", "SF_INSTANCE_URL", "SF_CREDPROC_EXPIRATION")


def with_prod_profile(env: dict[str, str], org: SalesforceEmulator, key_file: Path) -> None:
    """The README's ``--profile prod``, where a user keeps it: the config file under ``env``'s
    ``XDG_CONFIG_HOME``; and the installed ``sf-credproc`` first on ``env``'s ``PATH``."""
    config = Path(env["XDG_CONFIG_HOME"]) / "sf-credproc" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "[profile.prod]\n"
        f'client_id = "{CLIENT_ID}"\n'
        f'username = "{USERNAME}"\n'
        f'login_url = "{org.url}"\n'
        f'key = "file:{key_file}"\n'
    )
    env["PATH"] = f"{EXE.parent}{os.pathsep}{env['PATH']}"


def stand_in_job(directory: Path) -> tuple[Path, Path]:
    """An executable job that writes the credential variables it was given, as JSON, to a file
    (one JSON line per run): the job's path and the file's."""
    seen = directory / "job-saw.jsonl"
    job = directory / "sync-accounts"
    job.write_text(
        f"#!{sys.executable}\n"
        "import json, os\n"
        f"with open({str(seen)!r}, 'a') as out:\n"
        f"    out.write(json.dumps({{n: os.environ.get(n) for n in {JOB_VARIABLES!r}}}) + '\\n')\n"
    )
    job.chmod(0o700)
    return job, seen


def job_runs(seen: Path) -> list[dict[str, str | None]]:
    """What the stand-in job saw, one mapping per run."""
    if not seen.exists():
        return []
    return [json.loads(line) for line in seen.read_text().splitlines()]
