"""The README's Python API block, run as written in a program of its own, with the profile
``prod`` in the config file: ``get_credential`` logs in, ``SalesforceAuth`` finds that token in
the cache, and the SOQL query it authorizes answers Salesforce's query document."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import Run, assert_no_leaks
from readme_recipes import recipe
from recipe_fixtures import with_prod_profile

from sf_credproc.emulator import SalesforceEmulator

#: Runs the block (a file), then shows what it made: the query's answer and the auth's token.
SHOW = (
    "import json, runpy\n"
    "made = runpy.run_path('api.py')\n"
    "print(json.dumps({'records': made['records'], 'token': made['auth'].credential.access_token}))\n"
)


def test_python_api_block(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    block = recipe("python-api")
    assert block.language == "python"
    (tmp_path / "api.py").write_text(block.text)
    with_prod_profile(env, org, key_file)
    done = subprocess.run(
        [sys.executable, "-c", SHOW],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert_no_leaks(Run(done.returncode, "", done.stderr))
    assert done.returncode == 0, done.stderr
    printed, shown = done.stdout.splitlines()
    instance_url, seconds_left = printed.split()
    assert instance_url == org.url
    assert 7000 < float(seconds_left) <= 7200
    made = json.loads(shown)
    assert made["token"] in org.sessions
    assert org.token_request_count == 1  # SalesforceAuth found get_credential's token cached
    records = made["records"]
    assert isinstance(records, dict), records  # a query document, not a list of errors
    assert records["done"] is True and records["totalSize"] == len(records["records"]) > 0, records
    assert {record["attributes"]["type"] for record in records["records"]} == {"Account"}
