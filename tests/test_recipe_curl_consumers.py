"""The README's curl recipe of "Consumers" (``token``, ``header``, ``env``), run as written with the
real curl against ``sf-credproc emulator --https``: the settings in ``SF_CREDPROC_*`` variables,
the printed ``trust:`` line pasted first, nothing else."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from emulator_process import emulator_process, shell, shell_env
from readme_recipes import recipe


def json_documents(text: str) -> list[Any]:
    """The JSON documents written one after another (curl adds no newline after a body)."""
    decoder, position = json.JSONDecoder(), 0
    documents: list[Any] = []
    text = text.strip()
    while position < len(text):
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
        while position < len(text) and text[position].isspace():
            position += 1
    return documents


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_lines_run_as_written(tmp_path: Path) -> None:
    block = recipe("curl-token-header-env")
    curl_lines = [line for line in block.lines() if "curl " in line]
    assert [("--format token" in line, "--format header" in line, "--format env" in line)
            for line in curl_lines] == [(True, False, False), (False, True, False), (False, False, True)]  # fmt: skip
    env = shell_env(tmp_path)
    with emulator_process(["--https"], env) as emulator:
        env.update(emulator.settings())
        done = shell(f"{emulator.trust}\n{block.text}", env)
        # The whole block logged in once: every later get was a cache hit.
        cache = shell("sf-credproc cache list --json", env)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    answers = json_documents(done.stdout)
    assert len(answers) == len(curl_lines) == 3
    remaining = [answer["DailyApiRequests"]["Remaining"] for answer in answers]
    assert remaining == sorted(remaining, reverse=True) and len(set(remaining)) == 3  # 3 calls
    assert cache.returncode == 0 and len(cache.stdout.splitlines()) == 1, cache.stdout
