"""The README stays true: its two commands are CI's, every recipe is marked and run by the test its
marker names (the rules: ``tests/readme_check.py``), and its Python recipe runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import CLIENT_ID, USERNAME
from readme_check import problems
from readme_recipes import recipe

from sf_credproc.emulator import SalesforceEmulator

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
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
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        SF_CREDPROC_CLIENT_ID=CLIENT_ID,
        SF_CREDPROC_USERNAME=USERNAME,
        SF_CREDPROC_LOGIN_URL=org.url,
        SF_CREDPROC_KEY=f"file:{key_file}",
    )
    program = recipe("python-get-json")
    assert program.language == "python"
    done = subprocess.run(
        [sys.executable, "-c", program.text], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith(f"{USERNAME} until ")
    assert org.token_request_count == 1


# --- the recipe markers ---------------------------------------------------------------------------


def test_every_recipe_is_marked_and_every_marker_is_true() -> None:
    assert problems(README, TESTS) == []


def synthetic(tmp_path: Path, readme: str, tests: dict[str, str]) -> list[str]:
    """The check's findings for ``readme`` and test files ``tests`` (name -> source)."""
    tests_dir = tmp_path / "tests"
    tests_dir.mkdir()
    for name, source in tests.items():
        (tests_dir / name).write_text(source)
    return problems(readme, tests_dir)


HEAD = "# x\n\n## Consumers: formats and `exec`\n\n"
TAIL = "## Python API\n\ntext\n\n## Token cache\n\n```sh\nnot in the recipe sections\n```\n"
MARKED = (
    "<!-- recipe: hello; tested by tests/test_hello.py::test_hello -->\n```sh\necho hi\n```\n\n"
)
READS = 'from readme_recipes import recipe\n\ndef test_hello():\n    assert recipe("hello")\n'


def test_the_check_passes_a_true_synthetic_readme(tmp_path: Path) -> None:
    illustration = "<!-- not a recipe: a synopsis -->\n```sh\ntool [options]\n```\n\n"
    readme = HEAD + MARKED + illustration + TAIL
    assert synthetic(tmp_path, readme, {"test_hello.py": READS}) == []


@pytest.mark.parametrize(
    ("source", "finding"),
    [
        (None, "no such test file"),
        ("def test_other():\n    recipe('hello')\n", "no such test function"),
        ("def hello():\n    recipe('hello')\n", "no such test function"),
        ("def test_hello():\n    pass\n", 'does not call recipe("hello")'),
        ("def test_hello():\n    recipe('hallo')\n", "recipe('hallo') names no README marker"),
        ("def test_hello():\n    name = 'hello'\n    recipe(name)\n", "a string literal"),
    ],
)
def test_the_check_fails_a_marker_whose_test_is_missing_or_does_not_read_it(
    tmp_path: Path, source: str | None, finding: str
) -> None:
    tests = {} if source is None else {"test_hello.py": source}
    found = synthetic(tmp_path, HEAD + MARKED + TAIL, tests)
    assert len(found) >= 1 and finding in "\n".join(found), found


def test_the_check_follows_a_fixture_and_a_helper_of_the_module(tmp_path: Path) -> None:
    source = (
        "import pytest\n"
        "def lines():\n    return recipe('hello').lines()\n"
        "@pytest.fixture(name='block')\ndef block_fixture():\n    return lines()\n"
        "def test_hello(block):\n    assert block\n"
    )
    assert synthetic(tmp_path, HEAD + MARKED + TAIL, {"test_hello.py": source}) == []


def test_the_check_fails_a_gone_recipe(tmp_path: Path) -> None:
    gone = "def test_gone():\n    recipe('gone')\n"
    found = synthetic(
        tmp_path, HEAD + MARKED + TAIL, {"test_hello.py": READS, "test_gone.py": gone}
    )
    assert found == ["tests/test_gone.py:2: recipe('gone') names no README marker"]


def test_the_check_fails_an_unmarked_block(tmp_path: Path) -> None:
    unmarked = "Some text:\n\n```python\nprint('copy me')\n```\n\n"
    found = synthetic(tmp_path, HEAD + MARKED + unmarked + TAIL, {"test_hello.py": READS})
    assert len(found) == 1 and "a block without a recipe marker" in found[0], found


@pytest.mark.parametrize(
    ("comment", "finding"),
    [
        ("<!-- recipe: Hello; tested by tests/test_hello.py::test_hello -->", "malformed"),
        ("<!-- recipe: hi; tested by test_hello.py::test_hello -->", "malformed"),
        ("<!-- recipe hi tested by tests/test_hello.py::test_hello -->", "malformed"),
        ("<!-- not a recipe -->", "malformed not-a-recipe"),
    ],
)
def test_the_check_fails_a_malformed_marker(tmp_path: Path, comment: str, finding: str) -> None:
    block = f"{comment}\n```sh\necho hi\n```\n\n"
    found = synthetic(tmp_path, HEAD + MARKED + block + TAIL, {"test_hello.py": READS})
    assert any(finding in line for line in found), found


def test_the_check_fails_a_marker_without_a_block(tmp_path: Path) -> None:
    loose = "<!-- recipe: loose; tested by tests/test_hello.py::test_hello -->\n\ntext\n\n"
    found = synthetic(tmp_path, HEAD + MARKED + loose + TAIL, {"test_hello.py": READS})
    assert any("not followed by a block" in line for line in found), found


def test_the_check_fails_two_recipes_of_one_name(tmp_path: Path) -> None:
    found = synthetic(tmp_path, HEAD + MARKED + MARKED + TAIL, {"test_hello.py": READS})
    assert "README: two recipes are named 'hello'" in found


def test_the_check_fails_when_a_recipe_heading_is_renamed(tmp_path: Path) -> None:
    readme = (HEAD + MARKED + TAIL).replace("## Python API", "## The Python API")
    found = synthetic(tmp_path, readme, {"test_hello.py": READS})
    assert any("must both exist" in line for line in found), found
