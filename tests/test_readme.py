"""The README stays true: its two commands are CI's, and its Python recipe runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from helpers import CLIENT_ID, USERNAME

from sf_credproc.emulator import SalesforceEmulator

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_the_first_two_commands_are_what_ci_runs() -> None:
    first_block = code_blocks("sh")[0].strip().splitlines()
    assert first_block == ["pip install . && sf-credproc demo", "pip install '.[test]' && pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    for command in first_block:
        # CI adds --quiet to pip, nothing else.
        assert command.replace("pip install", "pip install --quiet") in ci


def test_every_yaml_block_parses() -> None:
    import yaml

    blocks = code_blocks("yaml")
    assert blocks
    for block in blocks:
        assert yaml.safe_load(block)


def test_python_recipe_runs_as_written(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    (recipe,) = [block for block in code_blocks("python") if '"sf-credproc", "get"' in block]
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        SF_CREDPROC_CLIENT_ID=CLIENT_ID,
        SF_CREDPROC_USERNAME=USERNAME,
        SF_CREDPROC_LOGIN_URL=org.url,
        SF_CREDPROC_KEY=f"file:{key_file}",
    )
    done = subprocess.run(
        [sys.executable, "-c", recipe], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith(f"{USERNAME} until ")
    assert org.token_request_count == 1
