"""The real Salesforce CLI (``sf`` from ``tests/consumers``) for the tests: its environment, running
a README line through ``sh`` with it, and what it leaves in a HOME."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest
from helpers import CLIENT_ID, EXE, USERNAME, Run, assert_no_leaks

from sf_credproc.emulator import SalesforceEmulator

ROOT = Path(__file__).resolve().parents[1]
SF = ROOT / "tests" / "consumers" / "node_modules" / ".bin" / "sf"

needs_sf = pytest.mark.skipif(
    not SF.exists(), reason="the Salesforce CLI is not installed (cd tests/consumers && npm ci)"
)


def sf_environment(env: dict[str, str], ca_bundle: str) -> dict[str, str]:
    """``env`` with ``sf`` and ``sf-credproc`` on PATH, Node trusting the test CA, and no
    telemetry, update or version checks (nothing leaves the machine)."""
    return {
        **env,
        "PATH": os.pathsep.join([str(SF.parent), str(EXE.parent), env["PATH"]]),
        "NODE_EXTRA_CA_CERTS": ca_bundle,  # Node's own trust store: the emulator's test CA
        "SF_DISABLE_TELEMETRY": "true",
        "SF_AUTOUPDATE_DISABLE": "true",
        "SF_SKIP_NEW_VERSION_CHECK": "true",
    }


def settings_environment(org: SalesforceEmulator, key: str) -> dict[str, str]:
    """The ``get`` settings as variables, so a README line without options runs as written."""
    return {
        "SF_CREDPROC_CLIENT_ID": CLIENT_ID,
        "SF_CREDPROC_USERNAME": USERNAME,
        "SF_CREDPROC_LOGIN_URL": org.url,
        "SF_CREDPROC_KEY": key,
    }


def run_line(line: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """One README line, through ``sh`` as a reader's shell runs it; no key, assertion or token on
    its stderr (sf prints the token on stdout where asked)."""
    done = subprocess.run(
        ["sh", "-c", line], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )
    assert_no_leaks(Run(done.returncode, done.stdout, done.stderr))
    return done


def redacted(text: str, tokens: Iterable[str]) -> str:
    """``text`` with every token replaced, for a failing assertion's message."""
    for token in tokens:
        text = text.replace(token, "<token>")
    return text


def files_under(home: Path) -> list[Path]:
    """Every file under ``home``, relative to it, sorted."""
    return sorted(path.relative_to(home) for path in home.rglob("*") if path.is_file())


def files_holding(home: Path, secrets: Iterable[str]) -> list[Path]:
    """The files under ``home`` whose bytes contain any of ``secrets`` (or its part after ``!``,
    the part of a session id that sf's log filter would not redact)."""
    needles = [s.encode() for secret in secrets for s in {secret, secret.split("!", 1)[-1]}]
    return [
        path
        for path in files_under(home)
        if any(needle in (home / path).read_bytes() for needle in needles)
    ]
