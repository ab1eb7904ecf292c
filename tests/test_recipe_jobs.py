"""The README's job recipes in "Consumers", run as written: the ``credential_process`` line, the
crontab line and the systemd unit. The job they start (``/opt/jobs/sync-accounts``) is a stand-in
at another path; the settings are the profile ``prod`` in the config file."""

from __future__ import annotations

import configparser
import json
import shlex
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from helpers import EXE, USERNAME, Run, assert_no_leaks
from readme_recipes import recipe
from recipe_fixtures import job_runs, stand_in_job, with_prod_profile

from sf_credproc.emulator import SalesforceEmulator

#: The README's placeholders for the reader's own job and the installed command.
README_JOB = "/opt/jobs/sync-accounts"
README_EXE = "/usr/local/bin/sf-credproc"


def run(command: list[str], env: dict[str, str]) -> Run:
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    result = Run(done.returncode, done.stdout, done.stderr)
    assert_no_leaks(result)
    return result


def test_credential_process_line(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    """A tool reading ``credential_process`` splits the command as a POSIX shell would (botocore's
    ``ProcessProvider``: ``shlex.split``) and reads ``Version`` and ``Expiration`` from stdout."""
    block = recipe("credential-process")
    (line,) = block.lines()
    setting, command = (part.strip() for part in line.split("=", 1))
    assert setting == "credential_process"
    with_prod_profile(env, org, key_file)

    done = run(shlex.split(command), env)
    assert done.code == 0, done.stderr
    credential = json.loads(done.stdout)
    assert credential["Version"] == 1
    expiration = datetime.strptime(credential["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
    left = expiration.replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)
    assert timedelta(minutes=5) < left <= timedelta(hours=2, minutes=1)
    assert credential["AccessToken"] in org.sessions
    assert credential["Username"] == USERNAME


def test_crontab_line(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    """cron runs a line's command part with ``/bin/sh -c``; the second run finds the cache."""
    (line,) = recipe("cron-exec").lines()
    fields = line.split(maxsplit=5)
    assert fields[:5] == ["*/15", "*", "*", "*", "*"]
    command = fields[5]
    assert README_JOB in command
    job, seen = stand_in_job(tmp_path)
    with_prod_profile(env, org, key_file)

    for _ in range(2):
        done = run(["/bin/sh", "-c", command.replace(README_JOB, str(job))], env)
        assert done.code == 0, done.stderr
    first, second = job_runs(seen)
    assert first["SF_ACCESS_TOKEN"] in org.sessions
    assert first["SF_INSTANCE_URL"] == org.url
    assert second == first
    assert org.token_request_count == 1  # "the cache makes most runs log in zero times"


def test_systemd_job_unit(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    """The unit's ``ExecStart`` with its ``Environment=`` and ``CacheDirectory=`` as systemd gives
    them: ``%C`` is the cache root, the directory is made 0755 (``CacheDirectoryMode=``'s default)
    and named in ``CACHE_DIRECTORY``; no shell."""
    unit = configparser.ConfigParser(interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(recipe("systemd-job").text)
    service = unit["Service"]
    assert service["Type"] == "oneshot"
    cache_root = tmp_path / "var-cache"
    cache_directory = cache_root / service["CacheDirectory"]
    cache_directory.mkdir(parents=True, mode=0o755)
    cache_directory.chmod(0o755)
    for assignment in shlex.split(service["Environment"]):
        name, value = assignment.split("=", 1)
        env[name] = value.replace("%C", str(cache_root))
    env["CACHE_DIRECTORY"] = str(cache_directory)
    job, seen = stand_in_job(tmp_path)
    with_prod_profile(env, org, key_file)
    command = shlex.split(service["ExecStart"])
    assert command[0] == README_EXE and README_JOB in command
    command = [str(EXE) if word == README_EXE else word for word in command]
    command = [str(job) if word == README_JOB else word for word in command]

    for _ in range(2):
        done = run(command, env)
        assert done.code == 0, done.stderr
    first, second = job_runs(seen)
    assert first["SF_ACCESS_TOKEN"] in org.sessions and second == first
    assert org.token_request_count == 1
    assert list(cache_directory.iterdir()), "the token cache is in the service's cache directory"
